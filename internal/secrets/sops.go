package secrets

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/secrets/sopsfile"
)

// readSOPS returns one value of a SOPS file, decrypting each file once per
// Resolve (cache holds the decrypted documents).
func readSOPS(cache map[string]map[string]any, ref *config.SOPSSecret) ([]byte, error) {
	doc, ok := cache[ref.File]
	if !ok {
		var err error
		if doc, err = decryptSOPS(ref.File); err != nil {
			return nil, err
		}
		cache[ref.File] = doc
	}
	var cur any = doc
	for _, part := range strings.Split(ref.Key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s has no key %q", ref.File, ref.Key)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("%s has no key %q", ref.File, ref.Key)
		}
	}
	switch v := cur.(type) {
	case string:
		return []byte(v), nil
	case bool, float64, int64, int:
		return []byte(fmt.Sprint(v)), nil
	case nil:
		return nil, fmt.Errorf("key %q of %s is null", ref.Key, ref.File)
	}
	return nil, fmt.Errorf("key %q of %s is a mapping or list, not a value", ref.Key, ref.File)
}

// decryptSOPS decrypts a SOPS file encrypted for age (keys from
// SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or the user's age key file, as the sops
// command finds them; the MAC is verified) and returns its values.
func decryptSOPS(file string) (map[string]any, error) {
	format, err := sopsFormat(file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading the SOPS file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, sopsfile.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the SOPS file: %w", err)
	}
	doc, err := sopsfile.Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("%s is not a SOPS file skiff can read: %w", file, err)
	}
	key, err := doc.DataKey()
	if err != nil {
		return nil, fmt.Errorf("decrypting %s: %w", file, err)
	}
	plain, err := doc.Decrypt(key)
	if err != nil {
		return nil, fmt.Errorf("decrypting %s: %w", file, err)
	}
	return plain, nil
}

// sopsFormat is the format of a SOPS file by its extension, as sops picks it.
func sopsFormat(file string) (string, error) {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml":
		return "yaml", nil
	case ".json":
		return "json", nil
	case ".env":
		return "dotenv", nil
	}
	return "", fmt.Errorf("%s: skiff reads SOPS files in YAML (.yaml, .yml), JSON (.json) or dotenv (.env) format", file)
}
