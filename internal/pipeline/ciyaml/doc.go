// Package ciyaml builds the YAML documents of generated CI configurations
// with keys in a fixed order, so that the output is deterministic and reads
// in the order a person would write it.
package ciyaml
