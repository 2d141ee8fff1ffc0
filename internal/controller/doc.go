// Package controller reconciles the store into the running load balancer: it turns each new store revision into the *lb.Config that lb applies and owns provisioning_status.
package controller
