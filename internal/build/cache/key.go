package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
)

// Key identifies a build step's inputs.
type Key [sha256.Size]byte

// String is the key in hex, usable as an image tag.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k was never computed.
func (k Key) IsZero() bool { return k == Key{} }

// version changes whenever what a key covers changes, so old entries are
// never mistaken for new ones.
const version = "skiff-cache-v1"

// Builder accumulates the fields of a key. Every field is written as its
// label and its value, each preceded by its length, so no sequence of
// fields can be confused with another.
type Builder struct{ h hash.Hash }

// NewKey starts a key for a kind of step ("RUN", "COPY", "FROM", ...).
func NewKey(kind string) *Builder {
	b := &Builder{h: sha256.New()}
	b.raw(version)
	b.raw(kind)
	return b
}

func (b *Builder) raw(s string) {
	var n [binary.MaxVarintLen64]byte
	b.h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	b.h.Write([]byte(s))
}

// String adds a labelled string.
func (b *Builder) String(label, v string) *Builder {
	b.raw(label)
	b.raw(v)
	return b
}

// Strings adds a labelled list, its length first.
func (b *Builder) Strings(label string, vs []string) *Builder {
	b.raw(label)
	var n [binary.MaxVarintLen64]byte
	b.h.Write(n[:binary.PutUvarint(n[:], uint64(len(vs)))])
	for _, v := range vs {
		b.raw(v)
	}
	return b
}

// Map adds a labelled map in sorted key order.
func (b *Builder) Map(label string, m map[string]string) *Builder {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kv := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		kv = append(kv, k, m[k])
	}
	return b.Strings(label, kv)
}

// Key adds a labelled key (a parent's).
func (b *Builder) Key(label string, k Key) *Builder { return b.String(label, string(k[:])) }

// Sum returns the key.
func (b *Builder) Sum() Key {
	var k Key
	copy(k[:], b.h.Sum(nil))
	return k
}
