// Package github writes a job graph as GitHub Actions workflows, one per
// event: pull requests (with a review environment per pull request, removed
// when it closes), tags, pushes to the default branch and a schedule.
package github
