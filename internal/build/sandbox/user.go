package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
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
		// No USER: uid 0, looked up by number, so an image without
		// /etc/passwd (busybox, static images) runs the step as 0:0, as
		// Docker does; only a named user needs the file.
		spec = "0"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, perr := readDB(root, "/etc/passwd")
	var u User
	found := false
	if isNumber(userPart) {
		id, err := parseID(userPart)
		if err != nil {
			return User{}, fmt.Errorf("user %s: %w", userPart, err)
		}
		u.UID = id
		for _, e := range passwd {
			if len(e) >= 6 && e[2] == userPart {
				gid, err := parseID(e[3])
				if err != nil {
					return User{}, fmt.Errorf("user %s: malformed /etc/passwd entry: %w", userPart, err)
				}
				u.GID, u.Home, found = gid, e[5], true
				userPart = e[0]
				break
			}
		}
	} else {
		for _, e := range passwd {
			if len(e) >= 6 && e[0] == userPart {
				uid, err1 := parseID(e[2])
				gid, err2 := parseID(e[3])
				if err1 != nil || err2 != nil {
					return User{}, fmt.Errorf("user %q: malformed /etc/passwd entry: %w", userPart, errors.Join(err1, err2))
				}
				u.UID, u.GID, u.Home, found = uid, gid, e[5], true
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
				if gid, err := parseID(g[2]); err == nil && gid != u.GID {
					u.Groups = append(u.Groups, gid)
				}
			}
		}
	}
	return u, nil
}

func lookupGroup(groups [][]string, name string) (uint32, error) {
	if id, err := parseID(name); err == nil {
		return id, nil
	} else if isNumber(name) {
		return 0, fmt.Errorf("group %s: %w", name, err)
	}
	for _, g := range groups {
		if len(g) >= 3 && g[0] == name {
			id, err := parseID(g[2])
			if err != nil {
				return 0, fmt.Errorf("group %q: malformed /etc/group entry: %w", name, err)
			}
			return id, nil
		}
	}
	return 0, fmt.Errorf("group %q not found in /etc/group", name)
}

// maxID is the largest valid user or group id: (uid_t)-1 means "unchanged"
// to setresuid and chown, so a step asking for it would keep running as
// whoever started it.
const maxID = 1<<32 - 2

// ParseID parses a numeric user or group id, refusing those the kernel
// cannot give a process or a file.
func ParseID(s string) (uint32, error) { return parseID(s) }

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a numeric id", s)
	}
	if n > maxID {
		return 0, fmt.Errorf("id %d is out of range (the largest is %d)", n, uint64(maxID))
	}
	return uint32(n), nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// maxDB bounds what is read of /etc/passwd and /etc/group.
const maxDB = 16 << 20

// readDB reads a colon-separated database from inside root. It is opened
// through a handle of the root, so no symlink leads out of it, without
// blocking (an image may put a FIFO there), and only a regular file is read.
func readDB(root, name string) ([][]string, error) {
	rootF, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer rootF.Close()
	h, err := pathrs.OpenatInRoot(rootF, name)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(io.LimitReader(f, maxDB))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out, sc.Err()
}
