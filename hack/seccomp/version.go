package main

import "runtime/debug"

// containerdVersion is the version of the containerd module this binary
// was built with, from its build information.
func containerdVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/containerd/containerd/v2" {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}
