package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// User is a resolved user: numeric ids and supplementary groups.
type User struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

// ResolveUser resolves a Dockerfile USER value ("name", "uid",
// "name:group", "uid:gid", empty for root) against the /etc/passwd and
// /etc/group files of the root filesystem at root. Numeric ids need no
// entry; names must exist.
func ResolveUser(root, spec string) (User, error) {
	if spec == "" {
		spec = "root"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, perr := readDB(root, "/etc/passwd")
	var u User
	found := false
	if id, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(id)
		for _, e := range passwd {
			if len(e) >= 6 && e[2] == userPart {
				gid, _ := strconv.ParseUint(e[3], 10, 32)
				u.GID, u.Home, found = uint32(gid), e[5], true
				userPart = e[0]
				break
			}
		}
	} else {
		for _, e := range passwd {
			if len(e) >= 6 && e[0] == userPart {
				uid, err1 := strconv.ParseUint(e[2], 10, 32)
				gid, err2 := strconv.ParseUint(e[3], 10, 32)
				if err1 != nil || err2 != nil {
					return User{}, fmt.Errorf("user %q: malformed /etc/passwd entry", userPart)
				}
				u.UID, u.GID, u.Home, found = uint32(uid), uint32(gid), e[5], true
				break
			}
		}
		if !found {
			if perr != nil {
				return User{}, fmt.Errorf("user %q: cannot read /etc/passwd: %w", userPart, perr)
			}
			return User{}, fmt.Errorf("user %q not found in /etc/passwd", userPart)
		}
	}
	if u.Home == "" {
		u.Home = "/"
	}
	groups, _ := readDB(root, "/etc/group")
	if hasGroup {
		gid, err := lookupGroup(groups, groupPart)
		if err != nil {
			return User{}, err
		}
		u.GID = gid
		return u, nil // an explicit group replaces supplementary groups, as Docker does
	}
	u.Groups = []uint32{u.GID}
	for _, g := range groups {
		if len(g) < 4 || g[3] == "" {
			continue
		}
		for _, m := range strings.Split(g[3], ",") {
			if m == userPart {
				if gid, err := strconv.ParseUint(g[2], 10, 32); err == nil && uint32(gid) != u.GID {
					u.Groups = append(u.Groups, uint32(gid))
				}
			}
		}
	}
	return u, nil
}

func lookupGroup(groups [][]string, name string) (uint32, error) {
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	for _, g := range groups {
		if len(g) >= 3 && g[0] == name {
			id, err := strconv.ParseUint(g[2], 10, 32)
			if err != nil {
				return 0, fmt.Errorf("group %q: malformed /etc/group entry", name)
			}
			return uint32(id), nil
		}
	}
	return 0, fmt.Errorf("group %q not found in /etc/group", name)
}

// readDB reads a colon-separated database from inside root, never
// following symlinks out of it.
func readDB(root, name string) ([][]string, error) {
	p, err := securejoin.SecureJoin(root, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out, sc.Err()
}
