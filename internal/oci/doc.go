// Package oci is skiff's access to OCI registries and image layers: a Client
// that authenticates with the standard Docker keychain, speaks plain HTTP only
// to loopback and explicitly insecure registries, and retries transient
// failures before naming the registry in a clear error; and Extract, which
// unpacks a layer tar into a directory without ever writing outside it.
package oci
