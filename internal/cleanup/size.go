package cleanup

import (
	"fmt"

	units "github.com/docker/go-units"
)

// ParseSize reads a size as `docker builder prune --keep-storage` does:
// "10GB", "512MiB", "1e9"; units are powers of 1024 either way.
func ParseSize(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit such as 10GB or 512MB", s)
	}
	return n, nil
}

// HumanSize formats n bytes with a binary unit: "9.5GiB".
func HumanSize(n int64) string { return units.BytesSize(float64(n)) }
