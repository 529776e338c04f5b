package hostile

import (
	"archive/tar"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/testenv"
)

const (
	// KeyDescription and KeySecret are the key the runner adds to the
	// host's session and user keyrings for RUN to look for.
	KeyDescription = "skiff-hostile-sentinel"
	KeySecret      = "host-secret-value"
	// NetnsBanner is what the server in the test's network namespace
	// sends; HostBanner what the host's loopback listener sends.
	NetnsBanner = "hostile-netns-reached"
	HostBanner  = "host-loopback-reached"
)

type servers struct{ env Env }

// startServers starts a listener on the host's 127.0.0.1, a server in a
// network namespace of the test's own (a veth pair in 198.19.0.0/16,
// removed at cleanup) and a file server for ADD <url>.
func startServers(t *testing.T) *servers {
	t.Helper()
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	go serveBanner(host, HostBanner)
	_, port, _ := net.SplitHostPort(host.Addr().String())

	ns := netnsListener(t)
	go serveBanner(ns, NetnsBanner)

	files, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	archive := Tar([]Entry{{Header: tar.Header{Name: "unpacked", Mode: 0o644}, Body: "from the archive\n"}})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/archive.tar" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		_, _ = w.Write([]byte(archive))
	})}
	go func() { _ = srv.Serve(files) }()
	t.Cleanup(func() { srv.Close() })
	return &servers{env: Env{HostAddr: host.Addr().String(), HostPort: port, NetnsAddr: ns.Addr().String(),
		URL: "http://" + files.Addr().String()}}
}

func serveBanner(l net.Listener, banner string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte(banner + "\n"))
		c.Close()
	}
}

// netnsListener creates a network namespace joined to the host by a veth
// pair with a /30 of 198.19.0.0/16 (the RFC 2544 block: never an outside
// address) and returns a listener inside it. The namespace and the pair are
// removed at cleanup; no sysctl, route beyond the pair's own, or firewall
// rule changes. Names and the /30 are random, so that test binaries of
// other checkouts (or in other PID namespaces, where pids repeat) never
// meet; a clash is tried again with new ones. The namespace is named
// skiff-hostile-<pid>-<random>: `hack/testenv down` removes one whose test
// binary was killed before its cleanup.
func netnsListener(t *testing.T) net.Listener {
	t.Helper()
	testenv.RequireRoot(t, "the test creates a network namespace")
	ip := testenv.RequireCommand(t, "ip")
	var err error
	for range 3 {
		var l net.Listener
		if l, err = tryNetnsListener(t, ip); err == nil {
			return l
		}
	}
	t.Fatal(err)
	return nil
}

func tryNetnsListener(t *testing.T, ip string) (net.Listener, error) {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(rnd[:])
	nsName := fmt.Sprintf("skiff-hostile-%d-%s", os.Getpid(), id)
	hostIf, peerIf := "skh"+id, "skp"+id // 11 characters: interface names have at most 15
	n := int(binary.BigEndian.Uint16(rnd[:2])) % 16384
	prefix := fmt.Sprintf("198.19.%d.", n/64)
	hostIP, peerIP := fmt.Sprintf("%s%d", prefix, n%64*4+1), fmt.Sprintf("%s%d", prefix, n%64*4+2)
	var l net.Listener
	cleanup := func() {
		if l != nil {
			l.Close() // the socket holds the namespace
		}
		_ = exec.Command(ip, "netns", "del", nsName).Run()
		_ = exec.Command(ip, "link", "del", hostIf).Run()
	}
	for _, args := range [][]string{
		{"netns", "add", nsName},
		{"link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", nsName},
		{"addr", "add", hostIP + "/30", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", nsName, "addr", "add", peerIP + "/30", "dev", peerIf},
		{"-n", nsName, "link", "set", peerIf, "up"},
		{"-n", nsName, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			cleanup()
			return nil, fmt.Errorf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A socket belongs to the namespace of the thread that creates it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread is not unlocked: it exits with the goroutine
		target, err := os.Open("/run/netns/" + nsName)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", nsName, err)
			return
		}
		l, err = net.Listen("tcp", net.JoinHostPort(peerIP, "0"))
		errc <- err
	}()
	if err := <-errc; err != nil {
		cleanup()
		return nil, err
	}
	t.Cleanup(cleanup)
	return l, nil
}

// addHostKeys adds the sentinel key to this process's session and user
// keyrings, which a skiff started by the test inherits; it returns a func
// that revokes them.
func addHostKeys(t *testing.T) func() {
	t.Helper()
	var ids []int
	for _, ring := range []int{unix.KEY_SPEC_SESSION_KEYRING, unix.KEY_SPEC_USER_KEYRING} {
		id, err := unix.AddKey("user", KeyDescription, []byte(KeySecret), ring)
		if err != nil {
			t.Fatalf("adding a key to the host keyring: %v", err)
		}
		ids = append(ids, id)
	}
	return func() {
		for _, id := range ids {
			_, _ = unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
		}
	}
}
