package secrets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/decrypt"
	"github.com/skiff-dev/skiff/internal/config"
	"sigs.k8s.io/yaml"
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

// decryptSOPS decrypts a SOPS file with SOPS's own library (keys from
// SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or the user's age key file, as the sops
// command finds them; the MAC is verified) and parses it.
func decryptSOPS(file string) (map[string]any, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("reading the SOPS file: %w", err)
	}
	format := formats.FormatForPath(file)
	plain, err := decrypt.File(file, "")
	if err != nil {
		return nil, fmt.Errorf("decrypting %s with sops: %s", file, strings.Join(strings.Fields(err.Error()), " "))
	}
	if format == formats.Dotenv {
		return parseDotenv(plain), nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal(plain, &doc); err != nil {
		// The parser's message may quote the decrypted text.
		return nil, errors.New("the decrypted document is neither YAML nor JSON")
	}
	return doc, nil
}

func parseDotenv(data []byte) map[string]any {
	doc := map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		doc[strings.TrimSpace(k)] = v
	}
	return doc
}
