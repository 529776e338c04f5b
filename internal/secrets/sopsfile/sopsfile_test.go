package sopsfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseSOPS: no input makes the parser or the decryption panic or
// hang. The seeds in testdata were written by SOPS's own library
// (secretstest.EncryptSOPS); internal/secrets checks real files against
// it. This package links only what parsing needs, so the fuzzer is fast.
// Run: go test -run '^$' -fuzz FuzzParseSOPS ./internal/secrets/sopsfile/
func FuzzParseSOPS(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "seed.enc.*"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, file := range seeds {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.TrimPrefix(filepath.Ext(file), "."))
	}
	f.Add([]byte("sops: {age: [{enc: x}], mac: 'ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]'}\na: &x [*x]\n"), "yaml")
	key := make([]byte, 32)
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		format := map[string]string{"yaml": "yaml", "json": "json", "env": "dotenv"}[ext]
		if format == "" {
			format = "yaml"
		}
		d, err := Parse(data, format)
		if err != nil {
			return
		}
		_, _ = d.Decrypt(key)
	})
}

// The seeds are SOPS files: they parse, and a wrong key fails the MAC or
// a value, never silently.
func TestSeedsParse(t *testing.T) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "seed.enc.*"))
	for _, file := range seeds {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		format := map[string]string{".yaml": "yaml", ".json": "json", ".env": "dotenv"}[filepath.Ext(file)]
		d, err := Parse(b, format)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, err := d.Decrypt(make([]byte, 32)); err == nil {
			t.Errorf("%s decrypts with a zero key", file)
		}
	}
}

// Aliases are expanded within a budget: a "billion laughs" document is
// refused at once instead of being walked exponentially.
func TestAliasExpansionIsBounded(t *testing.T) {
	doc := "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 9; i++ {
		doc += fmt.Sprintf("a%d: &a%d [*a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
	}
	doc += "sops: {age: [{enc: x}], mac: x}\n"
	_, err := Parse([]byte(doc), "yaml")
	if err == nil || !strings.Contains(err.Error(), "expands to more values than") {
		t.Fatalf("billion laughs: %v", err)
	}
}
