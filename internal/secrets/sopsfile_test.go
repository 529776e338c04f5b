package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	sopsdecrypt "github.com/getsops/sops/v3/decrypt"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/secrets/secretstest"
)

// skiff's own SOPS reader opens files that SOPS's library wrote, in each
// format, with nested keys, lists, typed values and unencrypted keys, and
// verifies their MAC.
func TestSOPSReaderFormats(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file, plain string
		want        map[string]string // key path → value
	}{
		{"a.enc.yaml", "db:\n  password: y-s3cret\n  port: 5432\n  tls: true\n  ratio: 0.5\nhosts: [a, b]\nnote_unencrypted: plain\nempty: \"\"\n",
			map[string]string{"db.password": "y-s3cret", "db.port": "5432", "db.tls": "true", "db.ratio": "0.5", "note_unencrypted": "plain", "empty": ""}},
		{"b.enc.json", `{"api": {"key": "j-s3cret", "n": 7}, "flag_unencrypted": false}`,
			map[string]string{"api.key": "j-s3cret", "api.n": "7", "flag_unencrypted": "false"}},
		{"c.enc.env", "TOKEN=d-s3cret\nMULTI=line1\\nline2\n",
			map[string]string{"TOKEN": "d-s3cret", "MULTI": "line1\nline2"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			file := filepath.Join(dir, tc.file)
			t.Setenv("SOPS_AGE_KEY", secretstest.EncryptSOPS(t, file, tc.plain))
			// SOPS's own decrypt accepts the file: the fixture is real SOPS.
			if _, err := sopsdecrypt.File(file, ""); err != nil {
				t.Fatalf("sops' decrypt refuses the fixture: %v", err)
			}
			cache := map[string]map[string]any{}
			for k, want := range tc.want {
				got, err := readSOPS(cache, sopsRef(file, k))
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				if string(got) != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// A changed file is refused: an edited unencrypted value breaks the MAC, a
// value moved to another key fails its authentication; no value is quoted.
func TestSOPSReaderRefusesTampering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "t.enc.yaml")
	t.Setenv("SOPS_AGE_KEY", secretstest.EncryptSOPS(t, file, "a: first-s3cret\nb: second-s3cret\nc_unencrypted: keep\n"))
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decryptSOPS(file); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(orig), "\n")
	var a, b int
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "a: "):
			a = i
		case strings.HasPrefix(l, "b: "):
			b = i
		}
	}
	swapped := append([]string{}, lines...)
	swapped[a] = "a: " + strings.TrimPrefix(lines[b], "b: ")
	swapped[b] = "b: " + strings.TrimPrefix(lines[a], "a: ")
	for name, text := range map[string]string{
		"unencrypted value edited": strings.Replace(string(orig), "c_unencrypted: keep", "c_unencrypted: changed", 1),
		"values swapped":           strings.Join(swapped, "\n"),
		"not sops":                 "a: 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := decryptSOPS(file)
			if err == nil {
				t.Fatal("a tampered file was accepted")
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "ENC[") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error quotes the file or is not one line: %q", err)
			}
		})
	}
}

func sopsRef(file, key string) *config.SOPSSecret { return &config.SOPSSecret{File: file, Key: key} }
