package oci

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ListTags returns the tags of repo; a repository that does not exist yet
// has none.
func (c *Client) ListTags(ctx context.Context, repo name.Repository) ([]string, error) {
	reg := repo.RegistryStr()
	tags, err := remote.List(repo, c.remoteOptions(ctx, reg)...)
	if err != nil {
		err = c.classify(err, reg)
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	return tags, nil
}

func isNotFound(err error) bool {
	return err != nil && errors.Is(err, ErrNotFound)
}
