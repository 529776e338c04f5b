package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"
)

// runNodeKubeconfig writes the kubelet's kubeconfig: the sandbox API server
// and CA taken from the admin kubeconfig, and a fresh client certificate for
// system:node:NAME in system:nodes signed by the cluster CA, which is what the
// Node authorizer and NodeRestriction admission expect of a kubelet.
func runNodeKubeconfig(_ context.Context, args []string) error {
	fs := newFlags("node-kubeconfig")
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig of the sandbox cluster")
	caCert := fs.String("ca-cert", "", "cluster CA certificate (PEM)")
	caKey := fs.String("ca-key", "", "cluster CA private key (PEM)")
	node := fs.String("node", "", "node name")
	out := fs.String("o", "", "kubeconfig file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *caCert == "" || *caKey == "" || *node == "" || *out == "" {
		return errors.New("-kubeconfig, -ca-cert, -ca-key, -node and -o are required")
	}
	admin, err := clientcmd.LoadFromFile(*kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", *kubeconfig, err)
	}
	ctx := admin.Contexts[admin.CurrentContext]
	if ctx == nil || admin.Clusters[ctx.Cluster] == nil {
		return fmt.Errorf("%s: no current context with a cluster", *kubeconfig)
	}
	server := admin.Clusters[ctx.Cluster].Server
	caPEM, err := os.ReadFile(*caCert)
	if err != nil {
		return err
	}
	ca, err := parseCertificate(caPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", *caCert, err)
	}
	signer, err := loadSigner(*caKey)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := clientCertificate(ca, signer, pkix.Name{
		CommonName:   "system:node:" + *node,
		Organization: []string{"system:nodes"},
	})
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["kubelet"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["kubelet"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "kubelet"}
	cfg.CurrentContext = "kubelet"
	return clientcmd.WriteToFile(*cfg, *out)
}

func parseCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func loadSigner(path string) (any, error) {
	key, err := keyutil.PrivateKeyFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	return key, nil
}

// clientCertificate returns a PEM certificate and key for client
// authentication as subject, valid for a year, signed by ca.
func clientCertificate(ca *x509.Certificate, caKey any, subject pkix.Name) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the node certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// runWaitNode waits until node NAME is Ready. With -pid it gives up as soon
// as that process (the node's init) is gone, so a kubelet or containerd that
// cannot start fails `up` at once instead of after the timeout.
func runWaitNode(ctx context.Context, args []string) error {
	fs := newFlags("wait-node")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	nodeName := fs.String("name", "", "node name")
	pid := fs.Int("pid", 0, "process that must stay alive while waiting")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := clientset(*kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	last := "not registered"
	for {
		if *pid > 0 {
			if _, err := os.Stat("/proc/" + strconv.Itoa(*pid)); err != nil {
				return fmt.Errorf("node %s: its processes exited before it was Ready (last state: %s)", *nodeName, last)
			}
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, *nodeName, metav1.GetOptions{})
		if err == nil {
			last = "registered, not Ready"
			for _, c := range node.Status.Conditions {
				if c.Type != corev1.NodeReady {
					continue
				}
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				last = fmt.Sprintf("Ready=%s: %s", c.Status, strings.TrimSpace(c.Reason+" "+c.Message))
			}
		}
		if sleep(ctx, 200*time.Millisecond) != nil {
			return fmt.Errorf("node %s not Ready after %s (last state: %s)", *nodeName, *timeout, last)
		}
	}
}
