package build

import "testing"

func TestDefaultRepoImage(t *testing.T) {
	tests := []struct{ repo, image, want string }{
		{"", "app", "app"},
		{"aws_account_id.dkr.ecr.region.amazonaws.com", "gcr.io/k8s-skaffold/skaffold-example1", "aws_account_id.dkr.ecr.region.amazonaws.com/gcr_io_k8s-skaffold_skaffold-example1"},
		{"127.0.0.1:5000/team", "app", "127.0.0.1:5000/team/app"},
		{"127.0.0.1:5000/team", "example.com/org/app:v1", "127.0.0.1:5000/team/example_com_org_app:v1"},
		{"127.0.0.1:5000/team", "127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"},
		{"gcr.io/myproject", "gcr.io/k8s-skaffold/example", "gcr.io/myproject/gcr.io/k8s-skaffold/example"},
		{"gcr.io/k8s-skaffold/sub", "gcr.io/k8s-skaffold/example", "gcr.io/k8s-skaffold/sub/example"},
		{"us-central1-docker.pkg.dev/myproject/repo", "app", "us-central1-docker.pkg.dev/myproject/repo/app"},
	}
	for _, tt := range tests {
		if got := DefaultRepoImage(tt.repo, tt.image); got != tt.want {
			t.Errorf("DefaultRepoImage(%q, %q) = %q, want %q", tt.repo, tt.image, got, tt.want)
		}
	}
	if got := CacheRepo("reg:5000/app:v1"); got != "reg:5000/app/cache" {
		t.Errorf("CacheRepo = %q", got)
	}
}
