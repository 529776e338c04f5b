package seccomp

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// Action is what a rule or the default does with a system call, in the
// OCI runtime format ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", …).
type Action string

// The actions a profile may use.
const (
	ActAllow       Action = "SCMP_ACT_ALLOW"
	ActErrno       Action = "SCMP_ACT_ERRNO"
	ActKill        Action = "SCMP_ACT_KILL"
	ActKillThread  Action = "SCMP_ACT_KILL_THREAD"
	ActKillProcess Action = "SCMP_ACT_KILL_PROCESS"
	ActTrap        Action = "SCMP_ACT_TRAP"
	ActLog         Action = "SCMP_ACT_LOG"
)

// Operator compares a system call argument with a rule's value.
type Operator string

// The comparisons of the OCI runtime format.
const (
	OpNotEqual     Operator = "SCMP_CMP_NE"
	OpLessThan     Operator = "SCMP_CMP_LT"
	OpLessEqual    Operator = "SCMP_CMP_LE"
	OpEqualTo      Operator = "SCMP_CMP_EQ"
	OpGreaterEqual Operator = "SCMP_CMP_GE"
	OpGreaterThan  Operator = "SCMP_CMP_GT"
	OpMaskedEqual  Operator = "SCMP_CMP_MASKED_EQ"
)

// Arch names an ABI in a profile's architectures.
type Arch string

// The ABIs an x86_64 kernel runs.
const (
	ArchX86_64 Arch = "SCMP_ARCH_X86_64"
	ArchX86    Arch = "SCMP_ARCH_X86"
	ArchX32    Arch = "SCMP_ARCH_X32"
)

// Profile is a seccomp profile in the OCI runtime format (the
// linux.seccomp object of a runtime spec).
type Profile struct {
	DefaultAction   Action    `json:"defaultAction"`
	DefaultErrnoRet *uint     `json:"defaultErrnoRet,omitempty"`
	Architectures   []Arch    `json:"architectures,omitempty"`
	Syscalls        []Syscall `json:"syscalls,omitempty"`
}

// Syscall is a rule: the named system calls get Action when every one of
// Args holds (see Compile for repeated indexes).
type Syscall struct {
	Names    []string `json:"names"`
	Action   Action   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []Arg    `json:"args,omitempty"`
}

// Arg compares argument Index with Value (for OpMaskedEqual: the argument
// masked with Value equals ValueTwo).
type Arg struct {
	Index    uint     `json:"index"`
	Value    uint64   `json:"value"`
	ValueTwo uint64   `json:"valueTwo,omitempty"`
	Op       Operator `json:"op"`
}

//go:embed containerd_default.json
var containerdDefault []byte

type containerdData struct {
	Capabilities []string `json:"capabilities"`
	Seccomp      Profile  `json:"seccomp"`
}

var parsed = sync.OnceValues(func() (containerdData, error) {
	var d containerdData
	if err := json.Unmarshal(containerdDefault, &d); err != nil {
		return d, fmt.Errorf("seccomp: embedded containerd profile: %w", err)
	}
	return d, nil
})

// Default returns containerd's default profile (what a Kubernetes pod gets
// with seccompProfile RuntimeDefault) for containerd's default capability
// set, which has no CAP_SYS_ADMIN: namespaces, mounts and keyrings are
// refused with EPERM. Callers get their own copy.
func Default() (*Profile, error) {
	d, err := parsed()
	if err != nil {
		return nil, err
	}
	p := d.Seccomp
	p.Syscalls = append([]Syscall(nil), p.Syscalls...)
	return &p, nil
}

// DefaultCapabilities returns containerd's default capability set for a
// container ("CAP_CHOWN", …), the set Default was computed for.
func DefaultCapabilities() ([]string, error) {
	d, err := parsed()
	if err != nil {
		return nil, err
	}
	return append([]string(nil), d.Capabilities...), nil
}
