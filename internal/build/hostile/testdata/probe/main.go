// Command probe is what hostile-input tests run inside a sandbox to try
// what a shell cannot: read keyrings, connect to an address, tell its
// effective uid. It prints one
// line per try: "<try>: ok <detail>" or "<try>: refused <error>".
package main

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: probe keys DESCRIPTION | connect ADDR... | open PATH | ids")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "keys":
		for _, ring := range []struct {
			name string
			id   int
		}{{"session", unix.KEY_SPEC_SESSION_KEYRING}, {"user", unix.KEY_SPEC_USER_KEYRING}, {"user-session", unix.KEY_SPEC_USER_SESSION_KEYRING}} {
			id, err := unix.KeyctlSearch(ring.id, "user", os.Args[2], 0)
			if err != nil {
				fmt.Printf("keys %s: refused %v\n", ring.name, err)
				continue
			}
			buf := make([]byte, 256)
			n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
			if err != nil {
				fmt.Printf("keys %s: found key %d, read refused %v\n", ring.name, id, err)
				continue
			}
			fmt.Printf("keys %s: ok %s\n", ring.name, buf[:min(n, len(buf))])
		}
	case "connect":
		for _, addr := range os.Args[2:] {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				fmt.Printf("connect %s: refused %v\n", addr, err)
				continue
			}
			b := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ := c.Read(b)
			c.Close()
			fmt.Printf("connect %s: ok %s\n", addr, b[:n])
		}
	case "ids":
		// A copy made setuid-root must not run with euid 0 when the
		// mount it lies on is nosuid.
		fmt.Printf("ids: uid %d euid %d\n", os.Getuid(), os.Geteuid())
	case "open":
		f, err := os.OpenFile(os.Args[2], os.O_RDWR, 0)
		if err != nil {
			fmt.Printf("open %s: refused %v\n", os.Args[2], err)
			return
		}
		f.Close()
		fmt.Printf("open %s: ok\n", os.Args[2])
	}
}
