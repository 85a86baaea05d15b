// Package registrytest runs go-containerregistry's in-process registry behind a middleware that records requests and injects faults, for tests.
package registrytest
