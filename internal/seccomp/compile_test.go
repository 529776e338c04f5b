package seccomp

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// call is one system call as the kernel shows it to the filter.
type call struct {
	arch uint32
	nr   uint32
	args [6]uint64
}

// data lays out struct seccomp_data for x/net/bpf's VM, which loads words
// big-endian: each word is written big-endian at the offset the kernel
// uses on a little-endian machine.
func (c call) data() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], c.nr)
	binary.BigEndian.PutUint32(b[offArch:], c.arch)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

func run(t *testing.T, f *Filter, c call) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(f.Instructions)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vm.Run(c.data())
	if err != nil {
		t.Fatal(err)
	}
	return uint32(got)
}

func defaultFilter(t *testing.T) (*Profile, *Filter) {
	t.Helper()
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, f
}

const (
	allow  = unix.SECCOMP_RET_ALLOW
	eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	kill   = unix.SECCOMP_RET_KILL_PROCESS
)

func nr(t *testing.T, b Arch, name string) uint32 {
	t.Helper()
	n, ok := abis[b].numbers[name]
	if !ok {
		t.Fatalf("%s has no system call %s", b, name)
	}
	return n
}

func TestDefaultProfileDecisions(t *testing.T) {
	_, f := defaultFilter(t)
	if n := len(f.Instructions); n > maxInsn {
		t.Fatalf("%d instructions", n)
	}
	x64 := func(name string, args ...uint64) call {
		c := call{arch: unix.AUDIT_ARCH_X86_64, nr: nr(t, ArchX86_64, name)}
		copy(c.args[:], args)
		return c
	}
	x32 := func(name string) call {
		return call{arch: unix.AUDIT_ARCH_X86_64, nr: nr(t, ArchX32, name) | x32Bit}
	}
	i386 := func(name string, args ...uint64) call {
		c := call{arch: unix.AUDIT_ARCH_I386, nr: nr(t, ArchX86, name)}
		copy(c.args[:], args)
		return c
	}
	tests := []struct {
		name string
		call call
		want uint32
	}{
		{"read", x64("read"), allow},
		{"execve", x64("execve"), allow},
		{"chroot (CAP_SYS_CHROOT is a default capability)", x64("chroot"), allow},
		{"arch_prctl", x64("arch_prctl"), allow},
		{"unshare", x64("unshare", unix.CLONE_NEWUSER), eperm},
		{"keyctl", x64("keyctl"), eperm},
		{"add_key", x64("add_key"), eperm},
		{"mount", x64("mount"), eperm},
		{"umount2", x64("umount2"), eperm},
		{"setns", x64("setns"), eperm},
		{"bpf", x64("bpf"), eperm},
		{"pivot_root", x64("pivot_root"), eperm},
		{"open_by_handle_at", x64("open_by_handle_at"), eperm},
		{"clone of a thread", x64("clone", unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD), allow},
		{"clone of a process", x64("clone", uint64(unix.SIGCHLD)), allow},
		{"clone into a user namespace", x64("clone", unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), eperm},
		{"clone into a mount namespace", x64("clone", unix.CLONE_NEWNS), eperm},
		{"clone with high bits set", x64("clone", 1<<40|uint64(unix.SIGCHLD)), allow},
		{"clone3 falls back", x64("clone3"), enosys},
		{"personality 0", x64("personality", 0), allow},
		{"personality query", x64("personality", 0xffffffff), allow},
		{"personality ADDR_NO_RANDOMIZE", x64("personality", 0x0040000), eperm},
		{"personality with a high word", x64("personality", 1<<32), eperm},
		{"socket AF_INET", x64("socket", unix.AF_INET), allow},
		{"socket AF_UNIX", x64("socket", unix.AF_UNIX), allow},
		{"socket AF_NETLINK", x64("socket", unix.AF_NETLINK), allow},
		{"socket AF_ALG", x64("socket", unix.AF_ALG), eperm},
		{"socket AF_VSOCK", x64("socket", unix.AF_VSOCK), eperm},
		{"socket AF_KCM", x64("socket", unix.AF_KCM), allow},
		{"socket AF_INET with a high word", x64("socket", 1<<32|unix.AF_INET), eperm},
		{"a system call newer than the profile", call{arch: unix.AUDIT_ARCH_X86_64, nr: 1000}, enosys},
		{"x32 read", x32("read"), allow},
		{"x32 readv", x32("readv"), allow},
		{"x32 readv at its x86_64 number", call{arch: unix.AUDIT_ARCH_X86_64, nr: x32Bit | 19}, eperm},
		{"x32 unshare", x32("unshare"), eperm},
		{"x32 keyctl", x32("keyctl"), eperm},
		{"x32 beyond the table", call{arch: unix.AUDIT_ARCH_X86_64, nr: x32Bit | 2000}, enosys},
		{"i386 getpid", i386("getpid"), allow},
		{"i386 socketcall", i386("socketcall"), allow},
		{"i386 unshare", i386("unshare"), eperm},
		{"i386 mount", i386("mount"), eperm},
		{"i386 clone into a pid namespace", i386("clone", unix.CLONE_NEWPID), eperm},
		{"i386 clone", i386("clone", uint64(unix.SIGCHLD)), allow},
		{"i386 socket AF_VSOCK", i386("socket", unix.AF_VSOCK), eperm},
		{"i386 beyond the table", call{arch: unix.AUDIT_ARCH_I386, nr: 5000}, enosys},
		{"an ABI the profile does not list", call{arch: unix.AUDIT_ARCH_AARCH64, nr: 63}, kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, f, tt.call); got != tt.want {
				t.Errorf("got %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestDefaultProfileEveryCall checks the search tree against the profile
// for every system call number of every ABI: a name the profile allows
// without conditions is allowed, any other (without conditions) refused.
func TestDefaultProfileEveryCall(t *testing.T) {
	p, f := defaultFilter(t)
	uncond := map[string]uint32{}
	conditional := map[string]bool{}
	for _, s := range p.Syscalls {
		ret, err := retValue(s.Action, s.ErrnoRet)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range s.Names {
			if len(s.Args) > 0 {
				conditional[n] = true
			} else {
				uncond[n] = ret
			}
		}
	}
	for _, b := range []abi{abis[ArchX86_64], abis[ArchX32], abis[ArchX86]} {
		audit := uint32(unix.AUDIT_ARCH_X86_64)
		if b.name == ArchX86 {
			audit = unix.AUDIT_ARCH_I386
		}
		_, max, err := abiRules(p, b)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for name, n := range b.numbers {
			if conditional[name] {
				continue
			}
			c := call{arch: audit, nr: n | b.mask}
			want, ok := uncond[name]
			switch {
			case !ok && c.nr > max:
				want = enosys
			case !ok:
				want = eperm
			}
			if got := run(t, f, c); got != want {
				t.Errorf("%s %s (%d): got %#x, want %#x", b.name, name, n, got, want)
			}
			checked++
		}
		if checked < 300 {
			t.Errorf("%s: only %d system calls checked", b.name, checked)
		}
	}
}

// TestProfileNamesAreKnown guards the system call tables: every name in
// containerd's profile exists in some table (recv and send are system
// calls of ARM only), so none is dropped for a gap in the tables.
func TestProfileNamesAreKnown(t *testing.T) {
	p, _ := defaultFilter(t)
	for _, s := range p.Syscalls {
		for _, n := range s.Names {
			if !slices.ContainsFunc([]*arch.Info{arch.X86_64, arch.X32, arch.I386, arch.ARM, arch.AARCH64}, func(i *arch.Info) bool {
				_, ok := i.SyscallNames[n]
				return ok
			}) {
				t.Errorf("system call %s of the profile is in no table", n)
			}
		}
	}
}

// TestCompare checks every comparison on 64-bit and 32-bit ABIs against
// unsigned arithmetic, with values around word boundaries.
func TestCompare(t *testing.T) {
	edges := []uint64{0, 1, 0xfffffffe, 0xffffffff, 1 << 32, 1<<32 | 1, 0xffffffff00000000, 1<<63 + 5, ^uint64(0)}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		edges = append(edges, rng.Uint64(), rng.Uint64()&0xffffffff)
	}
	ops := map[Operator]func(a, v, v2 uint64) bool{
		OpEqualTo:      func(a, v, _ uint64) bool { return a == v },
		OpNotEqual:     func(a, v, _ uint64) bool { return a != v },
		OpLessThan:     func(a, v, _ uint64) bool { return a < v },
		OpLessEqual:    func(a, v, _ uint64) bool { return a <= v },
		OpGreaterThan:  func(a, v, _ uint64) bool { return a > v },
		OpGreaterEqual: func(a, v, _ uint64) bool { return a >= v },
		OpMaskedEqual:  func(a, v, v2 uint64) bool { return a&v == v2 },
	}
	for op, ref := range ops {
		for _, v := range edges {
			v2 := v & 0x0000ffff0000ffff
			p := &Profile{DefaultAction: ActErrno, Architectures: []Arch{ArchX86_64, ArchX86},
				Syscalls: []Syscall{{Names: []string{"read"}, Action: ActAllow, Args: []Arg{{Index: 2, Value: v, ValueTwo: v2, Op: op}}}}}
			f, err := Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range edges {
				c := call{arch: unix.AUDIT_ARCH_X86_64, nr: 0}
				c.args[2] = a
				if got, want := run(t, f, c) == allow, ref(a, v, v2); got != want {
					t.Errorf("x86_64 %s: arg %#x value %#x/%#x: allowed=%v, want %v", op, a, v, v2, got, want)
				}
				// On i386 only the low words exist (libseccomp compares 32 bits).
				c = call{arch: unix.AUDIT_ARCH_I386, nr: 3}
				c.args[2] = a & 0xffffffff
				if got, want := run(t, f, c) == allow, ref(a&0xffffffff, v&0xffffffff, v2&0xffffffff); got != want {
					t.Errorf("i386 %s: arg %#x value %#x/%#x: allowed=%v, want %v", op, a, v, v2, got, want)
				}
			}
		}
	}
}

func TestRules(t *testing.T) {
	errno := uint(unix.EACCES)
	tests := []struct {
		name    string
		p       Profile
		calls   map[string]call
		want    map[string]uint32
		wantErr string
	}{{
		name: "one argument compared twice means either",
		p: Profile{DefaultAction: ActErrno, Syscalls: []Syscall{{Names: []string{"write"}, Action: ActAllow,
			Args: []Arg{{Index: 0, Value: 1, Op: OpEqualTo}, {Index: 0, Value: 2, Op: OpEqualTo}}}}},
		calls: map[string]call{"fd 1": {arch: unix.AUDIT_ARCH_X86_64, nr: 1, args: [6]uint64{1}}, "fd 2": {arch: unix.AUDIT_ARCH_X86_64, nr: 1, args: [6]uint64{2}},
			"fd 3": {arch: unix.AUDIT_ARCH_X86_64, nr: 1, args: [6]uint64{3}}},
		want: map[string]uint32{"fd 1": allow, "fd 2": allow, "fd 3": eperm},
	}, {
		name: "different arguments all hold",
		p: Profile{DefaultAction: ActErrno, Syscalls: []Syscall{{Names: []string{"write"}, Action: ActAllow,
			Args: []Arg{{Index: 0, Value: 1, Op: OpEqualTo}, {Index: 2, Value: 10, Op: OpLessThan}}}}},
		calls: map[string]call{"both": {arch: unix.AUDIT_ARCH_X86_64, nr: 1, args: [6]uint64{1, 0, 9}}, "one": {arch: unix.AUDIT_ARCH_X86_64, nr: 1, args: [6]uint64{1, 0, 10}}},
		want:  map[string]uint32{"both": allow, "one": eperm},
	}, {
		name: "errno and default allow",
		p:    Profile{DefaultAction: ActAllow, Syscalls: []Syscall{{Names: []string{"mkdir"}, Action: ActErrno, ErrnoRet: &errno}}},
		calls: map[string]call{"mkdir": {arch: unix.AUDIT_ARCH_X86_64, nr: 83}, "read": {arch: unix.AUDIT_ARCH_X86_64, nr: 0},
			"new": {arch: unix.AUDIT_ARCH_X86_64, nr: 900}, "i386": {arch: unix.AUDIT_ARCH_I386, nr: 3}},
		want: map[string]uint32{"mkdir": unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES), "read": allow, "new": allow, "i386": kill},
	}, {
		name:    "unknown action",
		p:       Profile{DefaultAction: "SCMP_ACT_NOTIFY"},
		wantErr: `action "SCMP_ACT_NOTIFY" is not supported`,
	}, {
		name:    "foreign architecture",
		p:       Profile{DefaultAction: ActAllow, Architectures: []Arch{"SCMP_ARCH_AARCH64"}},
		wantErr: "architecture SCMP_ARCH_AARCH64 is not one of an x86_64 kernel",
	}, {
		name: "conflicting actions",
		p: Profile{DefaultAction: ActErrno, Syscalls: []Syscall{{Names: []string{"read"}, Action: ActAllow},
			{Names: []string{"read"}, Action: ActKill}}},
		wantErr: "read has two rules without conditions and different actions",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(&tt.p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range tt.calls {
				if got := run(t, f, c); got != tt.want[name] {
					t.Errorf("%s: got %#x, want %#x", name, got, tt.want[name])
				}
			}
		})
	}
}
