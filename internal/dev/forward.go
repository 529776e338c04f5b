package dev

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/config"
)

// ConfigForwards are the portForward entries of p's configurations, as
// skiff dev forwards them; an entry without a namespace gets namespace.
func ConfigForwards(p *config.Project, namespace string) []PortForward {
	var out []PortForward
	seen := map[string]bool{}
	for _, c := range p.Configs {
		for _, pf := range c.PortForward {
			port := intstr.FromInt(pf.Port.IntVal)
			if pf.Port.IsStr {
				port = intstr.FromString(pf.Port.StrVal)
			}
			kind := pf.Type
			if kind == "" {
				kind = "service"
			}
			f := PortForward{Kind: kind, Name: pf.Name, Namespace: pf.Namespace, Port: port, Address: pf.Address, LocalPort: pf.LocalPort}
			if f.Namespace == "" {
				f.Namespace = namespace
			}
			if k := f.key(); !seen[k] {
				seen[k] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// ForwardPorts listens on a local port for each of specs and forwards every
// connection to a ready pod behind the spec's resource, found anew for each
// connection (so a redeploy does not break it), until ctx ends. It emits a
// Forwarding event when a spec listens, ForwardFailed when a listener or a
// connection fails. It returns when every forward has stopped, at once
// with an error when none could listen.
func ForwardPorts(ctx context.Context, c *Cluster, specs []PortForward, emit func(Event)) error {
	if len(specs) == 0 {
		return errors.New("nothing to forward")
	}
	fs := newForwards(c.Config, c.Client, emit)
	fs.set(ctx, specs)
	if len(fs.running) == 0 {
		return errors.New("no port could be forwarded (see the warnings above)")
	}
	<-ctx.Done()
	fs.stop()
	return nil
}
