package inplace

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// Protect lists what belongs to the container rather than to the image:
// /proc, /sys, /dev, every mount point but / itself (the runtime's
// /etc/hosts and /etc/resolv.conf, volumes, secrets), the running
// executable, the Docker configuration, and extra (the build's context,
// Dockerfile, secrets and skiff's own store).
func Protect(extra ...string) (*snapshot.Protected, error) {
	paths := []string{"/proc", "/sys", "/dev"}
	mounts, err := MountPoints()
	if err != nil {
		return nil, err
	}
	paths = append(paths, mounts...)
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, exe)
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		paths = append(paths, d)
	} else if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".docker"))
	}
	for _, v := range []string{"SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if d := os.Getenv(v); d != "" {
			paths = append(paths, filepath.SplitList(d)...)
		}
	}
	for _, p := range extra {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		paths = append(paths, abs)
	}
	return snapshot.NewProtected(paths...), nil
}

// MountPoints lists the mount points of this process's mount namespace
// except /, from /proc/self/mountinfo.
func MountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if p := unescapeMountPath(fields[4]); p != "/" {
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	return out, nil
}

// unescapeMountPath decodes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
