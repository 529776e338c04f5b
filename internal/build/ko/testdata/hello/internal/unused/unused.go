// Package unused is in the module but not imported by hello: changing it
// must not rebuild hello.
package unused

// Nothing is not called.
func Nothing() {}
