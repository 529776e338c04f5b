package dockerfile

import "strings"

// Env is an ordered list of variables, later entries replacing earlier
// ones of the same name. It implements shell.EnvGetter for expansion.
type Env []KV

// Get returns the value of key.
func (e Env) Get(key string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if e[i].Key == key {
			return e[i].Value, true
		}
	}
	return "", false
}

// Keys returns the variable names in order of first appearance.
func (e Env) Keys() []string {
	seen := map[string]bool{}
	var out []string
	for _, kv := range e {
		if !seen[kv.Key] {
			seen[kv.Key] = true
			out = append(out, kv.Key)
		}
	}
	return out
}

// With returns a copy of e with key set to value, keeping its position if
// it was already set.
func (e Env) With(key, value string) Env {
	out := make(Env, 0, len(e)+1)
	replaced := false
	for _, kv := range e {
		if kv.Key == key {
			if !replaced {
				out = append(out, KV{key, value})
				replaced = true
			}
			continue
		}
		out = append(out, kv)
	}
	if !replaced {
		out = append(out, KV{key, value})
	}
	return out
}

// FromList parses "KEY=value" strings (an image config's Env).
func FromList(list []string) Env {
	var e Env
	for _, s := range list {
		k, v, _ := strings.Cut(s, "=")
		e = e.With(k, v)
	}
	return e
}

// List renders e as "KEY=value" strings.
func (e Env) List() []string {
	out := make([]string, 0, len(e))
	for _, kv := range e {
		out = append(out, kv.Key+"="+kv.Value)
	}
	return out
}
