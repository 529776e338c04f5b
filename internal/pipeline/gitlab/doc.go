// Package gitlab writes a job graph as a .gitlab-ci.yml: workflow rules for
// merge-request, tag, default-branch and scheduled pipelines, one job per
// graph job with its rules, environment, resource group, artifacts and
// release.
package gitlab
