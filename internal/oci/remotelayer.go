package oci

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RemoteLayer is the layer d describes in repo, fetched only when read. It
// is mountable: pushing it to another repository of the same registry
// mounts the blob instead of copying it.
func (c *Client) RemoteLayer(ctx context.Context, repo name.Repository, d Desc) v1.Layer {
	ref := repo.Digest(d.Digest.String())
	return &remote.MountableLayer{Layer: &remoteLayer{c: c, ctx: ctx, ref: ref, desc: d}, Reference: ref}
}

type remoteLayer struct {
	c    *Client
	ctx  context.Context
	ref  name.Digest
	desc Desc
}

func (l *remoteLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *remoteLayer) DiffID() (v1.Hash, error)            { return l.desc.DiffID, nil }
func (l *remoteLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *remoteLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *remoteLayer) Compressed() (io.ReadCloser, error) {
	reg := l.ref.Context().RegistryStr()
	rl, err := remote.Layer(l.ref, l.c.remoteOptions(l.ctx, reg)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", l.ref, l.c.classify(err, reg))
	}
	rc, err := rl.Compressed()
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", l.ref, l.c.classify(err, reg))
	}
	return rc, nil
}

func (l *remoteLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	return Decompress(rc, l.desc.MediaType)
}
