package cluster

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/config"
)

// Labels on every build pod and Secret skiff creates.
const (
	LabelBuild    = "skiff.dev/build"
	LabelArtifact = "skiff.dev/artifact"
	containerName = "skiff"
	// dockerConfigDir is where the docker config Secret is mounted; the
	// worker's DOCKER_CONFIG.
	dockerConfigDir = "/skiff/docker"
	// workDir holds the job, the context and skiff's cache in the pod.
	workDir = "/workspace"
	// defaultPullSecretMountPath is Skaffold's.
	defaultPullSecretMountPath = "/secret"
)

// podSpec is the build pod for one artifact: it waits (sleep as PID 1)
// for the client to exec the worker, with the container runtime's defaults
// and nothing more — not privileged, no added capabilities, no privilege
// escalation, the runtime's seccomp profile — so that the build runs in
// container isolation. Credentials are only mounted Secrets.
func podSpec(o *Options, name, artifact, dockerSecret string, deadline int64) (*corev1.Pod, error) {
	d := o.details()
	no, grace := false, int64(0)
	sc := &corev1.SecurityContext{
		Privileged:               &no,
		AllowPrivilegeEscalation: &no,
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		RunAsUser:                d.RunAsUser,
	}
	ctr := corev1.Container{
		Name:            containerName,
		Image:           o.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		// The worker is exec'd; PID 1 only keeps the container alive. sleep
		// ignores SIGTERM, so skiff deletes the pod with no grace period.
		Command:         []string{"sleep", fmt.Sprint(deadline + 60)},
		WorkingDir:      workDir,
		SecurityContext: sc,
		Env: []corev1.EnvVar{
			{Name: "HOME", Value: workDir},
		},
	}
	if d.HTTPProxy != "" {
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "HTTP_PROXY", Value: d.HTTPProxy})
	}
	if d.HTTPSProxy != "" {
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: d.HTTPSProxy})
	}
	res, err := resources(d.Resources)
	if err != nil {
		return nil, err
	}
	ctr.Resources = res
	spec := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		TerminationGracePeriodSeconds: &grace,
		ActiveDeadlineSeconds:         &deadline,
		ServiceAccountName:            d.ServiceAccount,
		NodeSelector:                  d.NodeSelector,
		EnableServiceLinks:            &no,
	}
	if d.ServiceAccount == "" {
		// The build needs no API access.
		spec.AutomountServiceAccountToken = &no
	}
	if dockerSecret != "" {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "docker-config", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: dockerSecret, Items: []corev1.KeyToPath{{Key: "config.json", Path: "config.json"}}},
		}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "docker-config", MountPath: dockerConfigDir, ReadOnly: true})
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "DOCKER_CONFIG", Value: dockerConfigDir})
	}
	if d.PullSecretName != "" {
		mount := d.PullSecretMountPath
		if mount == "" {
			mount = defaultPullSecretMountPath
		}
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "pull-secret", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: d.PullSecretName},
		}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "pull-secret", MountPath: mount, ReadOnly: true})
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "GOOGLE_APPLICATION_CREDENTIALS", Value: strings.TrimSuffix(mount, "/") + "/kaniko-secret"})
	}
	for i, n := range d.Tolerations {
		var t corev1.Toleration
		if err := decodeNode(&n, &t); err != nil {
			return nil, fmt.Errorf("build.cluster.tolerations[%d]: %w", i, err)
		}
		spec.Tolerations = append(spec.Tolerations, t)
	}
	for i, n := range d.Volumes {
		var v corev1.Volume
		if err := decodeNode(&n, &v); err != nil {
			return nil, fmt.Errorf("build.cluster.volumes[%d]: %w", i, err)
		}
		spec.Volumes = append(spec.Volumes, v)
	}
	if o.Place != nil {
		o.Place(&spec)
	}
	spec.Containers = []corev1.Container{ctr}
	labels := map[string]string{}
	for k, v := range d.Labels {
		labels[k] = v
	}
	labels[LabelBuild] = "true"
	labels[LabelArtifact] = labelValue(artifact)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: d.Annotations},
		Spec:       spec,
	}, nil
}

// decodeNode reads a Kubernetes object from the configuration's YAML (its
// JSON field names).
func decodeNode(n *config.Any, into any) error {
	b, err := yamlOf(n)
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(b, into)
}

func resources(r *config.ResourceRequirements) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	if r == nil {
		return out, nil
	}
	var err error
	if out.Requests, err = resourceList("requests", r.Requests); err != nil {
		return out, err
	}
	out.Limits, err = resourceList("limits", r.Limits)
	return out, err
}

func resourceList(field string, r *config.ResourceRequirement) (corev1.ResourceList, error) {
	if r == nil {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{
		corev1.ResourceCPU: r.CPU, corev1.ResourceMemory: r.Memory,
		corev1.ResourceStorage: r.ResourceStorage, corev1.ResourceEphemeralStorage: r.EphemeralStorage,
	} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("build.cluster.resources.%s.%s: %q is not a quantity", field, name, v)
		}
		out[name] = q
	}
	return out, nil
}

// labelValue makes an image name a valid label value (63 characters of
// [A-Za-z0-9._-], alphanumeric at both ends).
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	v := string(b)
	if len(v) > 63 {
		v = v[len(v)-63:]
	}
	return strings.Trim(v, "._-")
}
