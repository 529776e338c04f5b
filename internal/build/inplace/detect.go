package inplace

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The inode numbers of the initial namespaces (include/linux/proc_ns.h):
// every process outside a container has these.
const (
	initUserNS = 0xEFFFFFFD
	initPIDNS  = 0xEFFFFFFC
)

// ErrNotInContainer is the reason Detect gives on a machine's own
// namespaces.
var ErrNotInContainer = errors.New("skiff is not inside a container (its PID and user namespaces are this machine's own), " +
	"and container isolation unpacks images into / and would overwrite this machine's files; use --isolation=root or rootless here")

// Detect reports whether this process runs inside a container: its PID or
// user namespace is not the machine's initial one, as in every container a
// runtime starts (a pod that shares the node's PID namespace is not
// recognised). It returns nil inside a container, ErrNotInContainer (or
// why the namespaces could not be read) otherwise. Marker files such as
// /.dockerenv are not trusted: a machine image built from a container
// image keeps them.
func Detect() error {
	pid, err := nsInode("/proc/self/ns/pid")
	if err != nil {
		return err
	}
	user, err := nsInode("/proc/self/ns/user")
	if err != nil {
		return err
	}
	if pid != initPIDNS || user != initUserNS {
		return nil
	}
	return ErrNotInContainer
}

func nsInode(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, fmt.Errorf("cannot tell whether skiff runs in a container: %w", &os.PathError{Op: "stat", Path: p, Err: err})
	}
	return st.Ino, nil
}

// CheckRoot reports why container isolation cannot run as this user: it
// writes the image's files, owners and modes into /, which takes root in
// the container.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("container isolation needs root inside the container (uid %d here): it unpacks images into /", os.Geteuid())
	}
	return nil
}
