// Package sandbox runs a build step's command isolated in a root
// filesystem: the current binary is re-executed into new mount, PID, UTS
// and IPC namespaces, mounts /proc, a minimal /dev, /etc/hosts and
// /etc/resolv.conf, pivots into the root, drops to the step's user with a
// reduced capability set and executes the command. Programs that use it
// must call Init first thing in main (and in TestMain).
package sandbox
