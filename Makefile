# vitals: make targets. Run `make help` for the list.

GO        ?= go
BIN       ?= bin/vitals
FUZZTIME  ?= 10s
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: help build test deps demo bench fuzz lint clean

help:
	@echo "make build   build $(BIN)"
	@echo "make test    install what the integration tests need (as root or CI=true), then run every test"
	@echo "make demo    show the system working on one machine"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make fuzz    run every fuzz target for FUZZTIME ($(FUZZTIME)) each"
	@echo "make lint    gofmt, go vet and staticcheck"

build:
	$(GO) build -o $(BIN) ./cmd/vitals

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
	rm -rf bin
