// Package lbyaml loads a `vitals lb` YAML file into the load balancer model (internal/octavia) and imports it into a store.
package lbyaml
