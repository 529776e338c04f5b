// Package local runs a pipeline's job graph on this machine: the jobs an
// event runs, in parallel where their needs allow, with the same commands
// and CI_* variables as in CI, each job's output in a log file under
// .skiff/pipelines/<id>/, manual jobs held unless approved.
package local
