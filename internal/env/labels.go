package env

// Labels and annotations skiff puts on the namespaces it creates.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "skiff"
	LabelApp         = "skiff.dev/app"
	LabelEnvironment = "skiff.dev/environment"
	// LabelRef is the ref's slug (label values are limited to 63 characters
	// of [A-Za-z0-9._-]); AnnotationRef keeps the ref as given.
	LabelRef = "skiff.dev/ref"
	// LabelExpiresAt is the Unix time after which env gc may stop a dynamic
	// environment.
	LabelExpiresAt = "skiff.dev/expires-at"
	// LabelImmutable marks a namespace the admission policy protects.
	LabelImmutable = "skiff.dev/immutable"
	AnnotationRef  = "skiff.dev/ref"
	// AnnotationURL is the environment's URL, for env list.
	AnnotationURL = "skiff.dev/url"
)

// ClusterLabels are the labels skiff sets on an environment's
// cluster-scoped objects: its confinement policy lets the deployer change
// only objects that carry them.
func ClusterLabels(app, environment string) map[string]string {
	return map[string]string{LabelApp: app, LabelEnvironment: environment}
}
