package snapshot

import (
	"os"
	"strings"
	"sync"

	"github.com/skiff-dev/skiff/internal/oci"
)

// userNamespaced reports whether this process runs in a user namespace
// other than the initial one (rootless builds run in one). There overlayfs
// must be mounted with userxattr and keeps its metadata in user.overlay.*
// xattrs, so the layer store of such a process marks opaque directories
// with user.overlay.opaque.
var userNamespaced = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
})

// opaqueXattr is the xattr that marks opaque directories for this
// process's overlay mounts.
func opaqueXattr() string {
	if userNamespaced() {
		return oci.UserOverlayOpaqueXattr
	}
	return oci.OverlayOpaqueXattr
}

// isOverlayXattr reports whether an xattr is overlayfs's bookkeeping in
// either form; such xattrs never go into a layer, whichever mode built it.
func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}
