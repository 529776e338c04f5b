package cluster

import (
	"context"
	"fmt"
	"os"

	yamlv3 "gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/config"
)

// defaultDockerSecret is Skaffold's name for the docker config Secret.
const defaultDockerSecret = "docker-cfg"

// dockerSecret is the Secret with the build pods' registry credentials,
// once per run: dockerConfig.secretName as it is; with dockerConfig.path,
// that file copied into a Secret (named secretName, docker-cfg, or a
// random name with randomDockerConfigSecret) that skiff creates when it is
// missing, and removes in Close when it made it. "" means no credentials.
func (b *Builder) dockerSecret(ctx context.Context) (string, error) {
	b.secretOnce.Do(func() { b.secret, b.secretErr = b.makeDockerSecret(ctx) })
	return b.secret, b.secretErr
}

func (b *Builder) makeDockerSecret(ctx context.Context) (string, error) {
	d := b.opts.details()
	dc := d.DockerConfig
	if dc == nil {
		return "", nil
	}
	secrets := b.opts.Client.CoreV1().Secrets(b.opts.namespace())
	if dc.Path == "" {
		if dc.SecretName == "" {
			return "", nil
		}
		if _, err := secrets.Get(ctx, dc.SecretName, metav1.GetOptions{}); err != nil {
			return "", fmt.Errorf("build.cluster.dockerConfig.secretName: Secret %s/%s: %w", b.opts.namespace(), dc.SecretName, err)
		}
		return dc.SecretName, nil
	}
	data, err := os.ReadFile(dc.Path)
	if err != nil {
		return "", fmt.Errorf("build.cluster.dockerConfig.path: %w", err)
	}
	name := dc.SecretName
	if name == "" {
		name = defaultDockerSecret
	}
	if d.RandomDockerConfigSecret {
		name = "skiff-docker-cfg-" + randomHex(4)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelBuild: "true"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"config.json": data},
	}
	_, err = secrets.Create(ctx, s, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err) && !d.RandomDockerConfigSecret:
		return name, nil // Skaffold's behaviour: an existing Secret is used as it is
	case err != nil:
		return "", fmt.Errorf("creating the docker config Secret %s/%s: %w", b.opts.namespace(), name, err)
	}
	b.ownSecret = true
	return name, nil
}

// Close deletes the docker config Secret the run created.
func (b *Builder) Close() error {
	if !b.ownSecret {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30e9)
	defer cancel()
	err := b.opts.Client.CoreV1().Secrets(b.opts.namespace()).Delete(ctx, b.secret, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the docker config Secret %s: %w", b.secret, err)
	}
	return nil
}

// yamlOf is the configuration node as YAML.
func yamlOf(n *config.Any) ([]byte, error) { return yamlv3.Marshal(n) }
