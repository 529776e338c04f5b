package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses Go durations ("36h", "90m") and whole days or weeks
// ("3d", "2w"), the units review-app lifetimes are usually given in.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if v, err := strconv.Atoi(n); err == nil && v >= 0 {
				return time.Duration(v) * unit, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration; use e.g. 90m, 36h, 3d or 2w", s)
	}
	return d, nil
}
