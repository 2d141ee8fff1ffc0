// Package octavia is the load balancer domain model: Octavia's resources as plain Go types, with one declaration of their enumerations, defaults and validation.
package octavia
