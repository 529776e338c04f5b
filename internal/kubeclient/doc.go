// Package kubeclient is the typed Kubernetes client skiff links: the API
// groups skiff calls, over one shared HTTP client, in place of client-go's
// full clientset, which links every group the API server serves.
package kubeclient
