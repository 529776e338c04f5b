package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// label names an instruction that jumps go to; next is the instruction
// after the jump.
type label int

const next label = -1

// jump is an unresolved jump at instruction at: conditional (cond set)
// with two targets, or unconditional (ja) to t.
type jump struct {
	at   int
	cond bool
	t, f label
}

// asm collects instructions with forward jumps to labels and resolves them.
// Conditional jumps reach at most 255 instructions ahead, so the compiler
// keeps them local and crosses long distances with ja.
type asm struct {
	ins    []bpf.Instruction
	jumps  []jump
	labels []int // label → instruction index, -1 until bound
}

func (a *asm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// bind puts l at the next instruction emitted.
func (a *asm) bind(l label) { a.labels[l] = len(a.ins) }

func (a *asm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) ret(v uint32) { a.emit(bpf.RetConstant{Val: v}) }

func (a *asm) load(off uint32) { a.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }

// jumpIf jumps to t when A cond val holds, else to f.
func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, t, f label) {
	a.jumps = append(a.jumps, jump{at: len(a.ins), cond: true, t: t, f: f})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

// jumpTo jumps to l whatever A holds.
func (a *asm) jumpTo(l label) {
	a.jumps = append(a.jumps, jump{at: len(a.ins), t: l})
	a.emit(bpf.Jump{})
}

func (a *asm) skip(from int, l label) (int, error) {
	if l == next {
		return 0, nil
	}
	to := a.labels[l]
	if to < 0 {
		return 0, fmt.Errorf("seccomp: internal error: label %d never bound", l)
	}
	if to <= from {
		return 0, fmt.Errorf("seccomp: internal error: backward jump at %d", from)
	}
	return to - from - 1, nil
}

// assemble resolves every jump and returns the program.
func (a *asm) assemble() ([]bpf.Instruction, error) {
	for _, j := range a.jumps {
		t, err := a.skip(j.at, j.t)
		if err != nil {
			return nil, err
		}
		if !j.cond {
			a.ins[j.at] = bpf.Jump{Skip: uint32(t)}
			continue
		}
		f, err := a.skip(j.at, j.f)
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("seccomp: internal error: conditional jump of %d/%d instructions at %d", t, f, j.at)
		}
		ji := a.ins[j.at].(bpf.JumpIf)
		ji.SkipTrue, ji.SkipFalse = uint8(t), uint8(f)
		a.ins[j.at] = ji
	}
	return a.ins, nil
}
