// Package krew tests kubectl-rexec the way users get it: a release archive
// made by hack/dist.sh (what `make dist` runs), installed by the real krew
// v0.4.3 (built from sigs.k8s.io/krew through the Go module proxy) with
// `kubectl krew install --manifest --archive` into a temporary KREW_ROOT, and
// run through the real kubectl v1.37.2's plugin dispatch and plugin
// completion (kubectl_complete-rexec) against the real test cluster.
//
// It also checks the krew manifests with krew's validate-krew-manifest, that
// the committed plugin.yaml is exactly hack/plugin.yaml.tmpl rendered, and
// that two dist builds give the same bytes.
//
// Nothing is skipped because a tool is missing: TestMain builds the cluster
// binaries (build.sh), krew and validate-krew-manifest (into the same cache
// directory, once) and the archive. There is no non-test code here.
package krew
