package testenv

import (
	"context"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	//lint:ignore SA1019 client-go v0.37's remotecommand still returns these error types
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// Exec runs cmd in the first container of pod ns/name with stdin (nil for
// none), copying its output to stdout and stderr. A command that ran and
// failed returns an error with an ExitStatus() int method
// (k8s.io/client-go/util/exec.CodeExitError).
func Exec(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	// WebSocket first, as kubectl and skiff do: SPDY can lose the end of
	// stdin when it half-closes the stream (seen here: an empty file).
	spdyEx, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, req.URL().String())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdyEx, httpstream.IsUpgradeFailure)
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
