# skiff — the two commands a fresh machine needs are `make demo` and `make test`.
# Both install and start what they need (hack/testenv up).

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/skiff-dev/skiff/internal/cli.version=$(VERSION) -X github.com/skiff-dev/skiff/internal/cli.commit=$(COMMIT)
TEST_TIMEOUT ?= 45m

.PHONY: all build image test test-short testenv testenv-down demo bench lint fuzz clean

all: build

## build: compile the skiff binary into bin/skiff
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/skiff .

## image: build skiff's own container image with skiff (FROM scratch: static skiff, busybox, CA
## certificates) and push it as $(REPO):$(VERSION); REPO defaults to skiff/skiff in the sandbox registry
image:
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' hack/image/build $(REPO)

## test: start the sandbox (registry + Kubernetes + real node), run every test, stop the sandbox;
## fails when down finds something of the sandbox left on the host
test:
	@set -euo pipefail; trap 'rc=$$?; hack/testenv down || rc=1; exit $$rc' EXIT; \
	hack/testenv up; \
	$(MAKE) --no-print-directory lint; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## test-short: unit tests only, no sandbox
test-short:
	$(GO) test -short ./...

## testenv: start the sandbox and leave it running (.testenv/env describes it)
testenv:
	hack/testenv up

## testenv-down: stop the sandbox
testenv-down:
	hack/testenv down

## demo: run the example project's pipeline end to end on the sandbox
demo: build
	hack/testenv up
	hack/demo

## bench: run the benchmarks side by side and write BENCHMARKS.md
bench: build
	hack/testenv up
	hack/bench/run

## lint: go vet, gofmt and staticcheck (pinned in hack/lint/go.mod, built and cached by hack/lint/run) must be clean
lint:
	$(GO) vet ./...
	hack/lint/run ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.testenv/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
