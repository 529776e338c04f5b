// Package seccomp compiles a seccomp profile in the OCI runtime format
// (containerd's default profile is embedded) into a classic BPF program
// for x86_64, x32 and i386 system calls, and installs it in the calling
// process without cgo. It follows libseccomp as runc drives it: names a
// architecture does not have are skipped, repeated conditions on one
// argument are alternatives, and system calls newer than any the profile
// names fail with ENOSYS so that programs fall back to older ones.
package seccomp
