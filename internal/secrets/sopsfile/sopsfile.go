// Package sopsfile reads SOPS files encrypted for age: it parses the
// YAML, JSON or dotenv document, opens the data key with an age identity
// and decrypts the values, verifying the file's MAC. It is apart from
// internal/secrets so that its fuzz test links only what parsing needs.
package sopsfile

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	sopsage "github.com/getsops/sops/v3/age"
	"gopkg.in/yaml.v3"
)

// SOPS files are read here rather than with sops' decrypt package, which
// links every key service SOPS supports (AWS, GCP and Azure KMS, PGP, Vault
// transit: the binary was 185.1 MB with it, 125.1 MB without, measured in
// commit 33d1fa0; BENCHMARKS.md has no binary-size section) although skiff takes only
// age keys. What is needed is small and fixed by SOPS's file format: the
// data key is age-encrypted in the metadata (sops' own age package decrypts
// it, finding identities as the sops command does), every value is
// AES-256-GCM with its key path as additional data, and a MAC (SHA-512 over
// the values in document order, itself encrypted) proves the file whole.

// MaxSize bounds a SOPS file skiff reads.
const MaxSize = 8 << 20

// sopsMetadata is the sops: section of an encrypted file.
type sopsMetadata struct {
	Age []struct {
		Recipient string `yaml:"recipient"`
		Enc       string `yaml:"enc"`
	} `yaml:"age"`
	LastModified            string `yaml:"lastmodified"`
	MAC                     string `yaml:"mac"`
	UnencryptedSuffix       string `yaml:"unencrypted_suffix"`
	EncryptedSuffix         string `yaml:"encrypted_suffix"`
	UnencryptedRegex        string `yaml:"unencrypted_regex"`
	EncryptedRegex          string `yaml:"encrypted_regex"`
	UnencryptedCommentRegex string `yaml:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted        bool   `yaml:"mac_only_encrypted"`
	ShamirThreshold         int    `yaml:"shamir_threshold"`
	KeyGroups               []any  `yaml:"key_groups"`
}

// sopsEntry is one key of a mapping, in document order.
type sopsEntry struct {
	key   string
	value any // string, int, float64, bool, time.Time, nil, []any or []sopsEntry
}

// Doc is a parsed, still encrypted SOPS file.
type Doc struct {
	tree []sopsEntry
	meta sopsMetadata
	// rules decide which keys are encrypted: the one rule the metadata sets.
	unencryptedSuffix, encryptedSuffix string
	unencryptedRegex, encryptedRegex   *regexp.Regexp
}

// Parse parses an encrypted SOPS file of format "yaml", "json" or
// "dotenv". Its errors never quote the file.
func Parse(data []byte, format string) (*Doc, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxSize>>20)
	}
	var (
		tree []sopsEntry
		err  error
	)
	if format == "dotenv" {
		tree, err = parseSOPSDotenv(data)
	} else {
		tree, err = parseSOPSYAML(data)
	}
	if err != nil {
		return nil, err
	}
	d := &Doc{}
	var metaNode any
	for i, e := range tree {
		if e.key == "sops" {
			metaNode = e.value
			tree = append(tree[:i:i], tree[i+1:]...)
			break
		}
	}
	if format == "dotenv" {
		tree, metaNode = dotenvMetadata(tree)
	}
	if metaNode == nil {
		return nil, errors.New("no sops metadata: the file is not encrypted with sops")
	}
	if err := decodeMetadata(metaNode, &d.meta); err != nil {
		return nil, err
	}
	d.tree = tree
	return d, d.setRules()
}

func parseSOPSYAML(data []byte) ([]sopsEntry, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, errors.New("not valid YAML or JSON")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: skiff reads single-document SOPS files")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the document is not a mapping")
	}
	budget := min(maxNodes, len(data)+1024)
	v, err := nodeValue(doc.Content[0], 0, &budget)
	if err != nil {
		return nil, err
	}
	return v.([]sopsEntry), nil
}

// maxDepth bounds nesting (and alias expansion) of a SOPS document.
const maxDepth = 64

// maxNodes bounds the values a SOPS document expands to: aliases of
// aliases ("billion laughs") would otherwise make a small file walk
// exponentially many. Without aliases every value takes at least a byte
// of the file, so the budget is the file's size (plus a little), at most
// maxNodes.
const maxNodes = 1 << 20

func nodeValue(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	if *budget--; *budget < 0 {
		return nil, errors.New("the document expands to more values than it has bytes (aliases of aliases?)")
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := make([]sopsEntry, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a string", k.Line)
			}
			v, err := nodeValue(n.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, sopsEntry{key: k.Value, value: v})
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.AliasNode:
		return nodeValue(n.Alias, depth+1, budget)
	case yaml.ScalarNode:
		// As sops' YAML store: the scalar decoded by yaml.v3.
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: unreadable value", n.Line)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// parseSOPSDotenv reads KEY=VALUE lines as sops' dotenv store does ("\n"
// in a value is a newline; # starts a comment line).
func parseSOPSDotenv(data []byte) ([]sopsEntry, error) {
	var out []sopsEntry
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return nil, fmt.Errorf("line %d is not KEY=VALUE", i+1)
		}
		out = append(out, sopsEntry{key: string(k), value: strings.ReplaceAll(string(v), `\n`, "\n")})
	}
	return out, nil
}

// dotenvMetadata takes the flattened sops_* keys out of a dotenv tree
// (sops_age__list_0__map_enc=…) and rebuilds the metadata mapping.
func dotenvMetadata(tree []sopsEntry) ([]sopsEntry, any) {
	var data, meta []sopsEntry
	age := map[int][]sopsEntry{}
	maxAge := -1
	for _, e := range tree {
		rest, ok := strings.CutPrefix(e.key, "sops_")
		if !ok {
			data = append(data, e)
			continue
		}
		if r, ok := strings.CutPrefix(rest, "age__list_"); ok {
			idx, field, ok := strings.Cut(r, "__map_")
			n, err := strconv.Atoi(idx)
			if ok && err == nil && n >= 0 && n < 1024 {
				age[n] = append(age[n], sopsEntry{key: field, value: e.value})
				maxAge = max(maxAge, n)
			}
			continue
		}
		var v any = e.value
		if s, _ := e.value.(string); rest == "mac_only_encrypted" || rest == "shamir_threshold" {
			var parsed any
			if yaml.Unmarshal([]byte(s), &parsed) == nil {
				v = parsed
			}
		}
		meta = append(meta, sopsEntry{key: rest, value: v})
	}
	if len(meta) == 0 && maxAge < 0 {
		return data, nil
	}
	var list []any
	for i := 0; i <= maxAge; i++ {
		list = append(list, age[i])
	}
	if list != nil {
		meta = append(meta, sopsEntry{key: "age", value: list})
	}
	return data, meta
}

// decodeMetadata fills m from the parsed sops: mapping.
func decodeMetadata(v any, m *sopsMetadata) error {
	b, err := yaml.Marshal(plain(v))
	if err == nil {
		err = yaml.Unmarshal(b, m)
	}
	if err != nil {
		return errors.New("the sops metadata is malformed")
	}
	return nil
}

// plain turns entries back into maps, for decoding and for lookups.
func plain(v any) any {
	switch t := v.(type) {
	case []sopsEntry:
		m := make(map[string]any, len(t))
		for _, e := range t {
			m[e.key] = plain(e.value)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = plain(c)
		}
		return out
	}
	return v
}

func (d *Doc) setRules() error {
	m := &d.meta
	rules := 0
	for _, s := range []string{m.UnencryptedSuffix, m.EncryptedSuffix, m.UnencryptedRegex, m.EncryptedRegex, m.UnencryptedCommentRegex, m.EncryptedCommentRegex} {
		if s != "" {
			rules++
		}
	}
	switch {
	case rules > 1:
		return errors.New("the sops metadata sets more than one of the encrypted/unencrypted suffix and regex rules")
	case m.UnencryptedCommentRegex != "" || m.EncryptedCommentRegex != "":
		return errors.New("files encrypted with a comment regex rule are not supported; re-encrypt with a suffix or key regex rule")
	case len(m.KeyGroups) > 0 || m.ShamirThreshold > 1:
		return errors.New("files with key groups (Shamir secret sharing) are not supported; encrypt for age recipients directly")
	case len(m.Age) == 0:
		return errors.New("the file is not encrypted for any age recipient (skiff decrypts age keys only)")
	case rules == 0:
		m.UnencryptedSuffix = "_unencrypted" // sops' default
	}
	d.unencryptedSuffix, d.encryptedSuffix = m.UnencryptedSuffix, m.EncryptedSuffix
	var err error
	if m.UnencryptedRegex != "" {
		if d.unencryptedRegex, err = regexp.Compile(m.UnencryptedRegex); err != nil {
			return errors.New("the sops metadata's unencrypted_regex does not compile")
		}
	}
	if m.EncryptedRegex != "" {
		if d.encryptedRegex, err = regexp.Compile(m.EncryptedRegex); err != nil {
			return errors.New("the sops metadata's encrypted_regex does not compile")
		}
	}
	return nil
}

// encrypted says whether the value at path is encrypted, by sops' rules.
func (d *Doc) encrypted(path []string) bool {
	anyOf := func(f func(string) bool) bool {
		for _, p := range path {
			if f(p) {
				return true
			}
		}
		return false
	}
	switch {
	case d.unencryptedSuffix != "":
		return !anyOf(func(p string) bool { return strings.HasSuffix(p, d.unencryptedSuffix) })
	case d.encryptedSuffix != "":
		return anyOf(func(p string) bool { return strings.HasSuffix(p, d.encryptedSuffix) })
	case d.unencryptedRegex != nil:
		return !anyOf(d.unencryptedRegex.MatchString)
	case d.encryptedRegex != nil:
		return anyOf(d.encryptedRegex.MatchString)
	}
	return true
}

// DataKey decrypts the file's data key with the first age recipient entry
// an identity opens (identities from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
// SOPS_AGE_SSH_PRIVATE_KEY_FILE or the user's keys.txt, as sops finds them).
func (d *Doc) DataKey() ([]byte, error) {
	var errs []string
	for _, a := range d.meta.Age {
		mk := &sopsage.MasterKey{Recipient: a.Recipient, EncryptedKey: a.Enc}
		key, err := mk.Decrypt()
		if err == nil && len(key) == 32 {
			return key, nil
		}
		if err != nil {
			errs = append(errs, strings.Join(strings.Fields(err.Error()), " "))
		}
	}
	return nil, fmt.Errorf("no age identity opens the data key (recipients %s): %s", d.recipients(), strings.Join(errs, "; "))
}

func (d *Doc) recipients() string {
	var r []string
	for _, a := range d.meta.Age {
		r = append(r, a.Recipient)
	}
	return strings.Join(r, ", ")
}

// Decrypt decrypts every value with key and checks the file's MAC; it
// returns the plain document as maps.
func (d *Doc) Decrypt(key []byte) (map[string]any, error) {
	h := sha512.New()
	if d.meta.MACOnlyEncrypted {
		h.Write(macOnlyEncryptedInit)
	}
	var walk func(v any, path []string) (any, error)
	walk = func(v any, path []string) (any, error) {
		switch t := v.(type) {
		case []sopsEntry:
			out := make([]sopsEntry, len(t))
			for i, e := range t {
				nv, err := walk(e.value, append(path[:len(path):len(path)], e.key))
				if err != nil {
					return nil, err
				}
				out[i] = sopsEntry{key: e.key, value: nv}
			}
			return out, nil
		case []any:
			out := make([]any, len(t))
			for i, c := range t {
				nv, err := walk(c, path)
				if err != nil {
					return nil, err
				}
				out[i] = nv
			}
			return out, nil
		case nil:
			return nil, nil
		}
		enc := d.encrypted(path)
		if enc {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("the value at %s is not encrypted", strings.Join(path, "."))
			}
			var err error
			if v, err = decryptValue(s, key, strings.Join(path, ":")+":"); err != nil {
				return nil, fmt.Errorf("the value at %s: %w", strings.Join(path, "."), err)
			}
		}
		if !d.meta.MACOnlyEncrypted || enc {
			b, err := macBytes(v)
			if err != nil {
				return nil, fmt.Errorf("the value at %s: %w", strings.Join(path, "."), err)
			}
			h.Write(b)
		}
		return v, nil
	}
	out, err := walk(d.tree, nil)
	if err != nil {
		return nil, err
	}
	if err := d.checkMAC(key, fmt.Sprintf("%X", h.Sum(nil))); err != nil {
		return nil, err
	}
	return plain(out).(map[string]any), nil
}

func (d *Doc) checkMAC(key []byte, computed string) error {
	lm, err := time.Parse(time.RFC3339, d.meta.LastModified)
	if err != nil {
		return errors.New("the sops metadata's lastmodified is not an RFC 3339 time")
	}
	mac, err := decryptValue(d.meta.MAC, key, lm.Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("the file's MAC: %w", err)
	}
	if s, _ := mac.(string); s != computed {
		return errors.New("MAC mismatch: the file was changed after it was encrypted")
	}
	return nil
}

// macOnlyEncryptedInit starts the MAC of files with mac_only_encrypted
// (sops.MACOnlyEncryptedInitialization), so it differs from a full MAC.
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

var encValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// decryptValue decrypts one ENC[AES256_GCM,…] value. Errors never quote it.
func decryptValue(s string, key []byte, additional string) (any, error) {
	if s == "" {
		return "", nil
	}
	m := encValue.FindStringSubmatch(s)
	if m == nil {
		return nil, errors.New("not in sops' encrypted format")
	}
	var parts [3][]byte
	for i := range parts {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, errors.New("malformed base64 in the encrypted value")
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(iv) == 0 || len(tag) != 16 {
		return nil, errors.New("malformed iv or tag in the encrypted value")
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, err
	}
	plainText, err := gcm.Open(nil, iv, append(data, tag...), []byte(additional))
	if err != nil {
		return nil, errors.New("decryption failed: wrong data key, or the value was moved or changed")
	}
	p := string(plainText)
	switch m[4] {
	case "str":
		return p, nil
	case "int":
		return strconv.Atoi(p)
	case "float":
		return strconv.ParseFloat(p, 64)
	case "bool":
		return strconv.ParseBool(p)
	case "bytes":
		return plainText, nil
	case "time":
		var t time.Time
		if err := t.UnmarshalText(plainText); err != nil {
			return nil, errors.New("malformed time value")
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown value type %q", m[4])
}

// macBytes is a value as sops hashes it (sops.ToBytes).
func macBytes(v any) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case int:
		return []byte(strconv.Itoa(t)), nil
	case float64:
		return []byte(strconv.FormatFloat(t, 'f', -1, 64)), nil
	case bool:
		if t {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case []byte:
		return t, nil
	case time.Time:
		return t.MarshalText()
	}
	return nil, fmt.Errorf("a value of type %T", v)
}
