package testenv_test

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestTLSRegistriesForPods logs in from a pod of skiff's image on the real
// node to the basic-auth and the token-auth registry at their bridge
// addresses, trusting the sandbox's CA through SSL_CERT_FILE: the server
// certificate names the bridge address, and the token registry's realm is
// a token service the pod reaches. A wrong password and a missing CA are
// refused there too; the pod's log shows no password.
func TestTLSRegistriesForPods(t *testing.T) {
	e, node := testenv.RequireRealNode(t)
	r := e.TLSRegistries(t)
	p := e.TLSRegistriesForPods(t)
	image := e.SkiffImage(t)
	ns := e.Namespace(t, "tlspods")
	cs := e.Clientset(t)
	ca, err := os.ReadFile(r.CA)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry"},
		StringData: map[string]string{"PASSWORD": r.Password, "JOB_TOKEN": r.JobToken},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(t.Context(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ca"}, Data: map[string]string{"ca.crt": string(ca)}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const script = `set -u
printf %s "$PASSWORD" | skiff login "$BASIC" -u "$USER" --password-stdin && echo "basic: logged in"
printf %s "$JOB_TOKEN" | skiff login "$TOKEN" -u gitlab-ci-token --password-stdin && echo "token: logged in"
printf %s not-the-password | skiff login "$TOKEN" -u gitlab-ci-token --password-stdin || echo "token: wrong password refused"
printf %s "$PASSWORD" | SSL_CERT_FILE=/dev/null skiff login "$BASIC" -u "$USER" --password-stdin || echo "basic: refused without the CA"
`
	no, grace := false, int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "login"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Containers: []corev1.Container{{
				Name:    "login",
				Image:   image,
				Command: []string{"sh", "-c", script},
				Env: []corev1.EnvVar{
					{Name: "HOME", Value: "/tmp"},
					{Name: "SSL_CERT_FILE", Value: "/ca/ca.crt"},
					{Name: "BASIC", Value: p.Basic},
					{Name: "TOKEN", Value: p.Token},
					{Name: "USER", Value: r.User},
				},
				EnvFrom:      []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "registry"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "ca", MountPath: "/ca", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "ca", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}},
			}}},
		},
	}
	done, logs := node.RunPod(t, ns, pod, 3*time.Minute)
	if done.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the pod ended %s:\n%s", done.Status.Phase, logs)
	}
	for _, want := range []string{"basic: logged in", "token: logged in", "token: wrong password refused", "basic: refused without the CA", "not trusted"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the pod's log does not say %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{r.Password, r.JobToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the pod's log shows a password:\n%s", logs)
		}
	}
}
