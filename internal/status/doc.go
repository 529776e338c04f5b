// Package status tells whether applied objects have become ready. Compute is
// a pure function from an object (and the pods of its current revision) to a
// kstatus result plus any unrecoverable problem such as ImagePullBackOff or
// CrashLoopBackOff; Watcher is the separate layer that watches the objects
// (never polls) and emits an Event each time an object's status changes.
package status
