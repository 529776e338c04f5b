// Package greet is imported by hello.
package greet

// Hello is hello's greeting.
func Hello() string { return "hello from ko" }
