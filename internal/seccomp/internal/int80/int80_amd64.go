package int80

// Syscall makes i386 system call nr with three 32-bit arguments and
// returns the raw result (a negative errno on failure).
func Syscall(nr, a1, a2, a3 uint32) int32
