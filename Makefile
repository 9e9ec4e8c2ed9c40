# The Makefile is the contract: CI (.ci/run) calls the same targets a developer runs.
GO       ?= go
BIN      := bin/schemacanary
PKGS     := ./...
# Fuzz targets run briefly on every `make test`; each line is PACKAGE:TARGET.
# FUZZTIME is a count of executions, not a duration: Go 1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" when a duration runs out on a loaded host
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZ     := ./gitsrc/migration:FuzzParseSections ./gitsrc/migration:FuzzParseFrontMatter ./gitsrc/migration:FuzzParseMigration ./gitsrc/audit:FuzzTransitionMessage ./analysis:FuzzAnalyze ./analysis/internal/pgast:FuzzParse
FUZZTIME ?= 20000x
# Files `make generate` writes; `make lint` fails when they differ from what is committed.
GENERATED := analysis/internal/pgast/ast_gen.go analysis/internal/pgast/decode_gen.go

.PHONY: all build test fuzz lint fmt generate scenarios demo lab bench clean

all: lint build test

build: ## Build the schemacanary binary into bin/.
	$(GO) build -o $(BIN) ./cmd/schemacanary

test: ## Unit and integration tests (race detector on), then short fuzz runs.
	$(GO) test -race -count=1 -timeout 14m $(PKGS)
	@$(MAKE) --no-print-directory fuzz

fuzz: ## Run every fuzz target for FUZZTIME.
	@set -e; for f in $(FUZZ); do \
		pkg=$${f%%:*}; target=$${f##*:}; \
		echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

lint: ## go vet, a gofmt check, and a check that generated code is current.
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@$(MAKE) --no-print-directory generate
	@git diff --quiet -- $(GENERATED) || { \
		echo "generated code is stale (pg_query_go changed?): commit what 'make generate' wrote:"; \
		git diff --stat -- $(GENERATED); exit 1; }

generate: ## Regenerate code: the parse-tree types and decoders from pg_query_go's descriptors.
	$(GO) generate ./analysis/internal/pgast

fmt: ## Format all Go files.
	gofmt -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')

# One package at a time (-p 1): each scenario makes its own load and judges
# latencies, so two of them side by side on a 2-core machine disturb each other.
scenarios: ## Long repeated scenarios (20 runs under load, crash restarts), one package at a time.
	SCHEMACANARY_SCENARIOS=1 $(GO) test -p 1 -count=1 -timeout 40m -run 'Scenario' $(PKGS)

demo: build ## The whole pipeline end to end on a local fleet of real Postgres clusters.
	./$(BIN) demo

# The lab resumes a killed run from analysis/model/lab.jsonl.gz.partial (same flags); LAB_BUDGET caps one
# invocation (a later `make lab` continues). CORPUS holds the third-party goose histories it replays.
CORPUS     ?= ../shared/corpus/goose
LAB_BUDGET ?= 115m
# The gate's database checks (dry run, data checks) run after the trials, with the same plan flags.
LAB_PLAN    = --seed 1 --examples 2000 --lanes 3 --arm both \
	--corpus $(CORPUS) --corpus-projects scroll-tech__scroll,ethpandaops__dora,smartcontractkit__chainlink
lab: build ## Regenerate the labeled dataset from real runs (resumable), then the embedded bootstrap model and its calibration plot.
	./$(BIN) lab --out analysis/model/lab.jsonl.gz $(LAB_PLAN) --budget $(LAB_BUDGET)
	./$(BIN) lab --checks analysis/model/lab.jsonl.gz --out analysis/model/lab.jsonl.gz $(LAB_PLAN)
	./$(BIN) train --data analysis/model/lab.jsonl.gz --eval --out analysis/model/bootstrap.json --eval-json bin/lab-eval.json
	$(GO) run ./cmd/calplot -in bin/lab-eval.json -out docs/calibration.png

bench: ## Benchmarks (figures go to docs/BENCHMARKS.md).
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 $(PKGS)

clean:
	rm -rf bin
