# kubectl-rexec — see README.md. Two commands do everything on a fresh machine:
#   make demo   build the plugin, start a test cluster, open a recorded session, replay it
#   make test   every test: unit, integration (upstream exec server code) and end-to-end (real cluster)

GO      ?= go
VERSION ?= $(shell bash hack/version.sh)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG      = github.com/kubectl-rexec/kubectl-rexec
LDFLAGS  = -s -w -X $(PKG)/pkg/cmd.Version=$(VERSION) -X $(PKG)/pkg/cmd.Commit=$(COMMIT)
BIN      = _output/bin/kubectl-rexec
GATEWAY_BIN = _output/bin/rexec-gateway
# Where `make install` puts kubectl-rexec and its completion helper: go install's directory.
BINDIR  ?= $(shell d="$$($(GO) env GOBIN)"; echo "$${d:-$$($(GO) env GOPATH)/bin}")

.PHONY: s3-build build build-gateway test test-fast unit e2e bench bench-ab bench-gateway bench-e2e demo cluster-build cluster-up cluster-down vet fmt clean install dist

# Built exactly as `make dist` builds the release binaries (static, no cgo, -trimpath,
# no VCS stamp, the same version string), with a progress line every 15 s.
build:
	@echo "==> building $(BIN) $(VERSION) (the first build compiles ~950 packages: minutes; then seconds)"
	@CGO_ENABLED=0 GO='$(GO)' bash hack/gobuild.sh kubectl-rexec -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubectl-rexec

# The rexec gateway, the server that makes recording mandatory (deploy/).
# Built as the image builds it (hack/image/image.sh), so that one compile serves both.
build-gateway:
	CGO_ENABLED=0 GOAMD64=v1 GOARM64=v8.0 $(GO) build -trimpath -buildvcs=false -ldflags '-s -w -X main.version=$(VERSION)' -o $(GATEWAY_BIN) ./cmd/rexec-gateway

# kubectl-rexec and kubectl_complete-rexec into BINDIR; kubectl and oc find plugins on PATH.
install: build
	@install -d '$(BINDIR)'
	install -m 0755 $(BIN) kubectl_complete-rexec '$(BINDIR)/'
	@case ":$$PATH:" in *':$(BINDIR):'*) echo "installed: kubectl rexec (and oc rexec) work now";; \
		*) echo "installed into $(BINDIR), which is not on your PATH: export PATH=\"$(BINDIR):\$$PATH\"";; esac

vet:
	@test -z "$$(gofmt -l cmd pkg internal test)" || (echo "gofmt needed:"; gofmt -l cmd pkg internal test; exit 1)
	$(GO) vet ./...
	cd test/cluster && $(GO) vet ./...

# versitygw, the S3 server the storage tests run against (built once from the Go module proxy;
# internal/tests3 builds it too when it is missing, this just does it before the tests start).
VERSITYGW     = versitygw
VERSITYGW_VER = v1.8.0
S3_BIN_DIR    = $${XDG_CACHE_HOME:-$$HOME/.cache}/kubectl-rexec-s3/$(VERSITYGW_VER)/bin
s3-build:
	@test -x "$(S3_BIN_DIR)/$(VERSITYGW)" || (echo "building versitygw $(VERSITYGW_VER) (once, ~3 min)"; \
		GOBIN="$(S3_BIN_DIR)" GOFLAGS=-mod=mod $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VER))

# Fast tests: unit and integration against upstream exec server code and a real S3 server, no cluster.
test-fast unit: build s3-build
	$(GO) test -count=1 ./...

# Every test. This is what CI runs.
test: vet unit test-image e2e

# End-to-end against a real kube-apiserver + etcd, with real kubectl beside ours.
e2e: build build-gateway cluster-build
	cd test/cluster && REXEC_BIN=$(CURDIR)/$(BIN) REXEC_GATEWAY_BIN=$(CURDIR)/$(GATEWAY_BIN) $(GO) test -count=1 -timeout 30m ./...

cluster-build:
	bash test/cluster/build.sh

bench: build build-gateway cluster-build
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./pkg/record/
	bash test/bench/bench.sh
	bash test/bench/gateway-bench.sh

# The gateway against direct exec and kubectl on one cluster: throughput,
# keystroke echo, idle sessions' memory, CPU per GiB (test/bench/gateway-bench.sh).
bench-gateway: build build-gateway cluster-build
	bash test/bench/gateway-bench.sh

# The throughput A/B alone: shared cores and client pinned, both protocols.
bench-ab: build cluster-build
	BENCH_PARTS=throughput bash test/bench/bench.sh

# The real cluster when it is built, else a quick one while it builds in the background: see test/demo.sh.
demo: build
	bash test/demo.sh

cluster-up: build cluster-build
	cd test/cluster && $(GO) run ./cmd/rexec-cluster up

# Stops the test cluster, real or quick (make demo may have left either running). Each is
# started from its binary in the cache's bin dir, so without that binary nothing of it runs.
cluster-down:
	@bin="$$(bash test/cluster/build.sh --print-bin-dir)"; for b in rexec-cluster rexec-quick; do \
		if [ -x "$$bin/$$b" ]; then "$$bin/$$b" down || exit 1; fi; done

# Release archives for krew (linux/darwin amd64+arm64, windows amd64), dist/SHA256SUMS and
# dist/plugin.yaml; reproducible. `make dist VERSION=v0.1.0` also rewrites ./plugin.yaml.
# PLATFORMS="linux/amd64" builds just one. See hack/dist.sh.
dist:
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' GO='$(GO)' bash hack/dist.sh

# The gateway's OCI image (linux/amd64+arm64, no container daemon, reproducible):
# dist/rexec-gateway_VERSION_oci.tar and .digest; PUSH=REGISTRY/REPO:TAG pushes it;
# PLATFORMS=linux/amd64 builds one. test-image: the image tool's tests (part of make test).
# See hack/image/README.md.
.PHONY: image test-image
image:
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' GO='$(GO)' bash hack/image/image.sh

test-image: build-gateway
	@test -z "$$(gofmt -l hack/image)" || (echo "gofmt needed:"; gofmt -l hack/image; exit 1)
	cd hack/image && $(GO) vet ./... && $(GO) test -count=1 ./...
	# The real gateway's linux/amd64 image, built and checked by reading it back.
	PLATFORMS=linux/amd64 DIST_DIR=$(CURDIR)/_output/image VERSION='$(VERSION)' COMMIT='$(COMMIT)' GO='$(GO)' bash hack/image/image.sh

fmt:
	gofmt -w cmd pkg internal test

clean:
	rm -rf _output dist
