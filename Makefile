# vitals: make targets. Run `make help` for the list.

GO        ?= go
BIN       ?= bin/vitals
DIST      ?= dist
FUZZTIME  ?= 10s
TESTFLAGS ?= -race -count=1 -timeout 20m

# The version stamped into the binary (vitals --version), from git.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
DEB_VERSION := $(shell scripts/deb-version.sh '$(VERSION)')
DEB_ARCH    := $(shell $(GO) env GOARCH)
DEB         := $(DIST)/vitals_$(DEB_VERSION)_$(DEB_ARCH).deb
PKGROOT     := $(DIST)/pkgroot

.PHONY: help build package test deps demo bench fuzz lint clean

help:
	@echo "make build   build $(BIN), version $(VERSION)"
	@echo "make package build the Debian package $(DEB)"
	@echo "make test    install what the integration tests need (as root or CI=true), then run every test"
	@echo "make demo    show the system working on one machine"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make fuzz    run every fuzz target for FUZZTIME ($(FUZZTIME)) each"
	@echo "make lint    gofmt, go vet and staticcheck"

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vitals

# The .deb (packaging/nfpm.yaml): the binary, man pages generated from its
# help, and the units of deploy/systemd with the binary at /usr/bin.
package: build
	rm -rf $(PKGROOT) && mkdir -p $(PKGROOT)/man $(PKGROOT)/systemd
	$(GO) run ./scripts/genman --bin $(BIN) --out $(PKGROOT)/man
	for u in deploy/systemd/*.service; do \
		sed 's#^ExecStart=/usr/local/bin/vitals #ExecStart=/usr/bin/vitals #' $$u > $(PKGROOT)/systemd/$$(basename $$u); done
	VITALS_BIN=$(BIN) VITALS_PKGROOT=$(PKGROOT) DEB_VERSION=$(DEB_VERSION) DEB_ARCH=$(DEB_ARCH) \
		$(GO) tool nfpm package --packager deb --config packaging/nfpm.yaml --target $(DEB)

deps:
	@scripts/ensure-deps.sh

test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

demo:
	$(GO) run ./cmd/vitals demo

bench:
	@set -e; found=0; for s in bench/*.sh; do [ -e "$$s" ] || continue; found=1; echo "== $$s"; bash "$$s"; done; \
	[ $$found = 1 ] || echo "no benchmarks yet: bench/*.sh arrive with the agent and load balancer issues"

fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf bin $(DIST)
