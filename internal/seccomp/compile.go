package seccomp

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Filter is a compiled profile: a classic BPF program for seccomp(2).
type Filter struct {
	// Instructions is the program, at most 4096 instructions long.
	Instructions []bpf.Instruction
}

// Offsets into struct seccomp_data (little endian: an argument's low word
// comes first).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

const (
	x32Bit  = 0x40000000
	maxInsn = 4096
	// leafSize is how many system calls a leaf of the search tree tests
	// one after the other.
	leafSize = 6
)

// abi is one system call ABI of the kernel: its system call table, the
// bit its numbers carry and whether its arguments are 32 bits wide.
type abi struct {
	name   Arch
	info   *arch.Info
	mask   uint32
	narrow bool
	// numbers maps names to numbers. The x32 table also lists the x86_64
	// numbers x32 cannot use (readv is 19 there and 515 for x32), so a
	// name takes its highest number, as in libseccomp's x32 table.
	numbers map[string]uint32
}

func newABI(name Arch, info *arch.Info, mask uint32, narrow bool) abi {
	b := abi{name: name, info: info, mask: mask, narrow: narrow, numbers: map[string]uint32{}}
	for n, s := range info.SyscallNumbers {
		if old, ok := b.numbers[s]; !ok || uint32(n) > old {
			b.numbers[s] = uint32(n)
		}
	}
	return b
}

var abis = map[Arch]abi{
	ArchX86_64: newABI(ArchX86_64, arch.X86_64, 0, false),
	ArchX32:    newABI(ArchX32, arch.X32, x32Bit, false),
	ArchX86:    newABI(ArchX86, arch.I386, 0, true),
}

// rules are the compiled rules of one system call on one ABI.
type rules struct {
	nr     uint32
	uncond *uint32 // return value of a rule without conditions
	conds  []condRule
}

type condRule struct {
	ret  uint32
	args []Arg
}

// Compile turns p into a BPF program for the machine skiff runs on
// (amd64: the x86_64, x32 and i386 ABIs, as listed in p.Architectures).
// A system call from an ABI the profile does not list kills the process.
func Compile(p *Profile) (*Filter, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("seccomp: %s is not supported (only amd64)", runtime.GOARCH)
	}
	def, err := retValue(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	listed := map[Arch]bool{}
	for _, a := range p.Architectures {
		if _, ok := abis[a]; !ok {
			return nil, fmt.Errorf("seccomp: architecture %s is not one of an x86_64 kernel (%s, %s, %s)", a, ArchX86_64, ArchX32, ArchX86)
		}
		listed[a] = true
	}
	if len(listed) == 0 {
		listed[ArchX86_64] = true // the native ABI, as libseccomp assumes
	}
	// Unknown system calls get ENOSYS only where the default refuses:
	// with a default of allow the kernel answers for them itself.
	enosys := p.DefaultAction != ActAllow && p.DefaultAction != ActLog
	a := &asm{}
	badArch := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	x86_64, i386 := a.newLabel(), a.newLabel()
	a.load(offArch)
	if listed[ArchX86_64] || listed[ArchX32] {
		a.jumpIf(bpf.JumpEqual, unix.AUDIT_ARCH_X86_64, next, a.after(1))
		a.jumpTo(x86_64)
	}
	if listed[ArchX86] {
		a.jumpIf(bpf.JumpEqual, unix.AUDIT_ARCH_I386, next, a.after(1))
		a.jumpTo(i386)
	}
	a.ret(badArch)
	if listed[ArchX86_64] || listed[ArchX32] {
		// x32 shares x86_64's audit architecture; its numbers carry a bit.
		a.bind(x86_64)
		a.load(offNr)
		x32 := a.newLabel()
		a.jumpIf(bpf.JumpGreaterOrEqual, x32Bit, next, a.after(1))
		a.jumpTo(x32)
		if err := a.section(p, abis[ArchX86_64], listed[ArchX86_64], def, badArch, enosys); err != nil {
			return nil, err
		}
		a.bind(x32)
		if err := a.section(p, abis[ArchX32], listed[ArchX32], def, badArch, enosys); err != nil {
			return nil, err
		}
	}
	if listed[ArchX86] {
		a.bind(i386)
		a.load(offNr)
		if err := a.section(p, abis[ArchX86], true, def, badArch, enosys); err != nil {
			return nil, err
		}
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInsn {
		return nil, fmt.Errorf("seccomp: the profile compiles to %d instructions, more than the kernel's %d", len(prog), maxInsn)
	}
	return &Filter{Instructions: prog}, nil
}

// section emits the checks of one ABI, with the system call number in A.
func (a *asm) section(p *Profile, b abi, listed bool, def, badArch uint32, enosys bool) error {
	if !listed {
		a.ret(badArch)
		return nil
	}
	rs, max, err := abiRules(p, b)
	if err != nil {
		return err
	}
	if enosys && len(rs) > 0 {
		a.jumpIf(bpf.JumpGreaterThan, max, next, a.after(1))
		a.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	}
	return a.tree(rs, def, b.narrow)
}

// after returns a label bound n instructions after the next one; only for
// straight-line code the caller emits right away.
func (a *asm) after(n int) label {
	l := a.newLabel()
	a.labels[l] = len(a.ins) + 1 + n
	return l
}

// tree emits a binary search over the system calls, sorted by number,
// with short linear leaves; every path ends in a return.
func (a *asm) tree(rs []rules, def uint32, narrow bool) error {
	if len(rs) <= leafSize {
		for _, r := range rs {
			if err := a.leaf(r, def, narrow); err != nil {
				return err
			}
		}
		a.ret(def)
		return nil
	}
	mid := len(rs) / 2
	right := a.newLabel()
	a.jumpIf(bpf.JumpGreaterOrEqual, rs[mid].nr, next, a.after(1))
	a.jumpTo(right)
	if err := a.tree(rs[:mid], def, narrow); err != nil {
		return err
	}
	a.bind(right)
	return a.tree(rs[mid:], def, narrow)
}

// leaf tests for one system call and, if it is the one, returns what its
// rules say; otherwise control goes on after the leaf with A unchanged.
func (a *asm) leaf(r rules, def uint32, narrow bool) error {
	if len(r.conds) == 0 {
		a.jumpIf(bpf.JumpEqual, r.nr, next, a.after(1))
		a.ret(*r.uncond)
		return nil
	}
	end := a.newLabel()
	a.jumpIf(bpf.JumpEqual, r.nr, next, end)
	for _, c := range r.conds {
		fail := a.newLabel()
		for _, arg := range c.args {
			if err := a.compare(arg, fail, narrow); err != nil {
				return err
			}
		}
		a.ret(c.ret)
		a.bind(fail)
	}
	if r.uncond != nil {
		a.ret(*r.uncond)
	} else {
		a.ret(def)
	}
	a.bind(end)
	return nil
}

// compare falls through when the argument satisfies arg and jumps to fail
// otherwise. 64-bit values are compared as unsigned, high word first; on
// i386 only the low word exists, as in libseccomp.
func (a *asm) compare(arg Arg, fail label, narrow bool) error {
	if arg.Index > 5 {
		return fmt.Errorf("seccomp: argument index %d out of range (0-5)", arg.Index)
	}
	lo := uint32(offArgs + 8*arg.Index)
	hi := lo + 4
	v, v2 := arg.Value, arg.ValueTwo
	vl, vh := uint32(v), uint32(v>>32)
	pass := a.newLabel()
	defer a.bind(pass)
	if narrow {
		vh = 0
	}
	switch arg.Op {
	case OpEqualTo:
		if !narrow {
			a.load(hi)
			a.jumpIf(bpf.JumpEqual, vh, next, fail)
		}
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vl, next, fail)
	case OpNotEqual:
		if !narrow {
			a.load(hi)
			a.jumpIf(bpf.JumpEqual, vh, next, pass)
		}
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vl, fail, next)
	case OpMaskedEqual:
		if !narrow {
			a.load(hi)
			a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vh})
			a.jumpIf(bpf.JumpEqual, uint32(v2>>32), next, fail)
		}
		a.load(lo)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vl})
		a.jumpIf(bpf.JumpEqual, uint32(v2), next, fail)
	case OpGreaterThan, OpGreaterEqual, OpLessThan, OpLessEqual:
		if !narrow {
			// The high words decide unless they are equal.
			a.load(hi)
			above, below := pass, fail
			if arg.Op == OpLessThan || arg.Op == OpLessEqual {
				above, below = fail, pass
			}
			a.jumpIf(bpf.JumpGreaterThan, vh, above, next)
			a.jumpIf(bpf.JumpEqual, vh, next, below)
		}
		a.load(lo)
		switch arg.Op {
		case OpGreaterThan:
			a.jumpIf(bpf.JumpGreaterThan, vl, next, fail)
		case OpGreaterEqual:
			a.jumpIf(bpf.JumpGreaterOrEqual, vl, next, fail)
		case OpLessThan:
			a.jumpIf(bpf.JumpGreaterOrEqual, vl, fail, next)
		case OpLessEqual:
			a.jumpIf(bpf.JumpGreaterThan, vl, fail, next)
		}
	default:
		return fmt.Errorf("seccomp: unknown operator %q", arg.Op)
	}
	return nil
}

// abiRules collects the profile's rules for the system calls b has,
// sorted by number, and the highest number the profile names.
func abiRules(p *Profile, b abi) ([]rules, uint32, error) {
	byNr := map[uint32]*rules{}
	var max uint32
	for _, s := range p.Syscalls {
		ret, err := retValue(s.Action, s.ErrnoRet)
		if err != nil {
			return nil, 0, fmt.Errorf("seccomp: rule for %v: %w", s.Names, err)
		}
		for _, name := range s.Names {
			n, ok := b.numbers[name]
			if !ok {
				continue // not a system call of this ABI (libseccomp skips it too)
			}
			nr := n | b.mask
			max = maxOf(max, nr)
			r := byNr[nr]
			if r == nil {
				r = &rules{nr: nr}
				byNr[nr] = r
			}
			if err := r.add(name, ret, s.Args); err != nil {
				return nil, 0, err
			}
		}
	}
	out := make([]rules, 0, len(byNr))
	for _, r := range byNr {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(x, y rules) int { return cmp.Compare(x.nr, y.nr) })
	return out, max, nil
}

func maxOf(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// add records a rule. As runc does, a rule that compares one argument
// more than once becomes one rule per comparison (any of them matches).
func (r *rules) add(name string, ret uint32, args []Arg) error {
	if len(args) == 0 {
		if r.uncond != nil && *r.uncond != ret {
			return fmt.Errorf("seccomp: %s has two rules without conditions and different actions", name)
		}
		r.uncond = &ret
		return nil
	}
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
	}
	if !repeated {
		r.conds = append(r.conds, condRule{ret: ret, args: args})
		return nil
	}
	for _, a := range args {
		r.conds = append(r.conds, condRule{ret: ret, args: []Arg{a}})
	}
	return nil
}

// retValue is the seccomp return value of an action; ERRNO without a
// number means EPERM.
func retValue(a Action, errno *uint) (uint32, error) {
	switch a {
	case ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case ActErrno:
		e := uint32(unix.EPERM)
		if errno != nil {
			if *errno > 0xffff {
				return 0, fmt.Errorf("errno %d out of range", *errno)
			}
			e = uint32(*errno)
		}
		return unix.SECCOMP_RET_ERRNO | e, nil
	case ActKill, ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case ActLog:
		return unix.SECCOMP_RET_LOG, nil
	}
	return 0, fmt.Errorf("action %q is not supported", a)
}
