# builder — make targets. `make image` builds the image of app/; `make test`
# runs every test, end-to-end included (it installs the tools those need).

GO       ?= go
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN      := bin/builder
IMAGE    ?= app.tar
SBOM     ?=
CRANE    := github.com/google/go-containerregistry/cmd/crane@v0.22.1
ORAS     := oras.land/oras/cmd/oras@v1.3.6
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# The same version as .github/workflows/ci.yml; linters chosen in .golangci.yml.
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Commands the end-to-end tests use, as command:debian-package: a real OCI
# runtime, independent image clients, a real registry with htpasswd auth.
E2E_TOOLS := skopeo:skopeo umoci:umoci runc:runc podman:podman \
	docker-registry:docker-registry htpasswd:apache2-utils busybox:busybox-static

.PHONY: build image publish test test-unit test-deps lint bench clean

build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/builder

# make image SBOM=sbom.spdx.json also writes the image's SPDX SBOM.
image: build
	./$(BIN) build ./app --tarball $(IMAGE)$(if $(SBOM), --sbom $(SBOM))

# make publish TAG=v1.2.0 REPO=ghcr.io/acme/app
publish: build
	@[ -n "$(TAG)" ] && [ -n "$(REPO)" ] || { echo "usage: make publish TAG=v1.2.0 REPO=registry/name" >&2; exit 2; }
	./$(BIN) publish ./app --tag "$(TAG)" --repo "$(REPO)"

test: test-deps
	BUILDER_E2E=1 PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) test -count=1 -timeout 60m ./...
	cd bench && $(GO) test -count=1 ./...

test-unit:
	$(GO) test -count=1 -timeout 60m ./...

test-deps:
	@missing=""; for t in $(E2E_TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
			echo "end-to-end tests need:$$missing (Debian: apt-get install -y$$missing); or run make test-unit" >&2; exit 1; \
		fi; \
		echo "installing$$missing" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v crane >/dev/null || [ -x "$$($(GO) env GOPATH)/bin/crane" ] || $(GO) install $(CRANE)
	@command -v oras >/dev/null || [ -x "$$($(GO) env GOPATH)/bin/oras" ] || $(GO) install $(ORAS)

# golangci-lint runs go vet's checks and gofmt's among its own, on both
# modules; gofmt -l also covers the test programs under testdata/.
lint:
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(GOLANGCI_LINT) run ./...
	cd bench && $(GO) run $(GOLANGCI_LINT) run ./...

# builder against ko (pinned in bench/go.mod) and go build, side by side, on
# an in-process registry; needs nothing but Go. RUNS=N for more samples.
# COLD_RUNS=N for the cold scenario (a minute a run and tool); ONLY=REGEXP
# runs only the scenarios whose name matches.
RUNS ?= 7
COLD_RUNS ?= 3
ONLY ?= .
bench:
	cd bench && $(GO) run . -runs $(RUNS) -cold-runs $(COLD_RUNS) -only '$(ONLY)'

	$(GO) test -run '^$$' -bench . -benchmem ./internal/cache ./internal/layers

clean:
	rm -rf bin $(IMAGE)
