// Package gateway holds the end-to-end tests of the rexec gateway against a
// real kube-apiserver with the aggregation layer on: the shipped deploy/
// manifests are applied with real kubectl (server-side), the gateway runs
// as a host process behind a real APIService (an ExternalName Service that
// points at localhost), authenticated as its ServiceAccount, and real
// kubectl and the plugin talk to it through the API server.
package gateway
