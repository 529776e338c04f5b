// Package greet is the package the hello command imports: skiff dev
// rebuilds hello when it changes.
package greet

// Hello greets name.
func Hello(name string) string { return "hello, " + name }
