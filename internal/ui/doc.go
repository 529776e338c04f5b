// Package ui is `skiff ui`: a local web application that shows what is
// deployed where — environments, their revision history, inventory status,
// diffs between revisions and releases — and runs the same rollback and stop
// workflows as the CLI, behind a confirmation and a per-session token.
//
// It reads everything through Source and acts through Actions, two small
// interfaces declared here; the cluster package implements them over the
// engines. The pages are html/template with a little plain JavaScript for
// live updates (server-sent events), all embedded in the binary.
package ui
