# edge — build, test, demo, bench. `make test` is what CI runs (.ci/run).
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/edge
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS     := -s -w -X main.version=$(VERSION)

.PHONY: build test test-go lint prereqs demo bench clean fuzz

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edge

# Everything CI checks: prerequisites, vet, staticcheck, race-enabled tests.
test: prereqs lint test-go

prereqs:
	@bash scripts/prereqs.sh

lint:
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l .); if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

test-go:
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -run 'TestWriteKeepsWriterStack|TestTryWriteAllocatesNothing' ./internal/tlsrecord/  # !race only: see stack_norace_test.go
	cd bench && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...

# A short fuzzing pass over every fuzz target (parsers and protocol decoders).
fuzz:
	@bash scripts/fuzz.sh 20s

demo: build
	$(BIN) demo

bench: build
	@bash bench/run.sh

clean:
	rm -rf bin
