// Package int80 makes i386 system calls from an amd64 process (int $0x80),
// so that tests can check how a seccomp filter treats the 32-bit ABI.
package int80
