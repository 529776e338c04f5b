package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// Invocation says how SkiffBuild runs the skiff binary.
type Invocation struct {
	// User runs skiff as that ordinary user (User.Command); nil runs it
	// as this process.
	User *testenv.User
	// CacheDir is skiff's --cache-dir, one per mode so that runs do not
	// share layers; it must belong to the user.
	CacheDir string
	// Args are further flags for skiff build.
	Args []string
}

// SkiffBuild returns a Mode.Build that runs `skiff build` of this
// checkout in the project directory (made the user's own first) and reads
// the pushed image from its artifacts file.
func SkiffBuild(inv Invocation) func(ctx context.Context, t *testing.T, dir, repo string) Outcome {
	return func(ctx context.Context, t *testing.T, dir, repo string) Outcome {
		t.Helper()
		bin := Skiff(t)
		if inv.User != nil {
			if err := chownTree(dir, inv.User.UID, inv.User.GID); err != nil {
				t.Fatal(err)
			}
		}
		out := filepath.Join(dir, "artifacts.json")
		args := append([]string{"build", "--file-output", out, "-d", repo, "--cache-dir", inv.CacheDir}, inv.Args...)
		cmd := exec.CommandContext(ctx, bin, args...)
		if inv.User != nil {
			cmd = inv.User.Command(ctx, t, bin, args...)
		}
		cmd.Dir = dir
		var tail tailBuffer
		cmd.Stdout, cmd.Stderr = &tail, &tail
		err := cmd.Run()
		o := Outcome{Err: err, Output: tail.String()}
		if cmd.ProcessState != nil {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				o.MaxRSS = ru.Maxrss << 10
			}
		}
		return o.finish(err, out)
	}
}

// finish completes o from the build's error and its artifacts file: the
// line the user was shown for a failed build, the pushed image of one
// that succeeded.
func (o Outcome) finish(err error, artifacts string) Outcome {
	if err != nil {
		o.ErrorLine = errorLine(o.Output)
		return o
	}
	b, err := os.ReadFile(artifacts)
	if err != nil {
		o.Err = err
		return o
	}
	var a struct{ Builds []struct{ Tag string } }
	if err := json.Unmarshal(b, &a); err != nil || len(a.Builds) != 1 {
		o.Err = errors.New("unreadable artifacts file: " + string(b))
		return o
	}
	o.Image = a.Builds[0].Tag
	return o
}

// errorLine is the line skiff printed its error on ("skiff: ..."), with
// anything printed after it appended, so that a second line shows.
func errorLine(out string) string {
	i := strings.LastIndex(out, "\nskiff: ")
	if i < 0 {
		if !strings.HasPrefix(out, "skiff: ") {
			return ""
		}
		i = -1
	}
	return strings.TrimSuffix(out[i+1:], "\n")
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct{ b []byte }

func (w *tailBuffer) Write(p []byte) (int, error) {
	const max = 64 << 10
	w.b = append(w.b, p...)
	if len(w.b) > max {
		w.b = append(w.b[:0], w.b[len(w.b)-max:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string { return string(w.b) }
