# Chronik — build, run and test. `make help` lists the targets.

GO       ?= go
PYTHON   := /usr/bin/python3
BIN      := bin
FUZZTIME ?= 60s
# Every main package under cmd/ is built into bin/; cmd/chronik must exist.
CMDS     := $(sort ./cmd/chronik $(patsubst %/,./%,$(dir $(wildcard cmd/*/*.go))))
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help build run deps test vet fuzz clean crash-soak

help:
	@echo "make build  build $(CMDS) into $(BIN)/"
	@echo "make run    build, then serve on 127.0.0.1:9092 with data in ./data"
	@echo "make deps   install kcat and python3-confluent-kafka (apt) when missing"
	@echo "make test   deps, build, go vet, go test -race (unit, fuzz seeds, itest)"
	@echo "make fuzz   run every Fuzz target for FUZZTIME=$(FUZZTIME) each"
	@echo "make crash-soak  CRASH_ROUNDS=$(CRASH_ROUNDS) rounds of each crash test (kill -9, simulated power cut)"
	@echo "make clean  remove $(BIN)/"

build:
	$(GO) build -o $(BIN)/ $(CMDS)

run: build
	$(BIN)/chronik serve --listen 127.0.0.1:9092 --data-dir ./data

# The interop tests need kcat and confluent-kafka for the system python.
# CHRONIK_SKIP_INTEROP=1 skips those tests and this install.
deps:
ifeq ($(CHRONIK_SKIP_INTEROP),1)
	@echo "deps: CHRONIK_SKIP_INTEROP=1, not installing kcat / confluent-kafka"
else
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	$(PYTHON) -c 'import confluent_kafka' >/dev/null 2>&1 || missing="$$missing python3-confluent-kafka"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "deps: kcat and python3-confluent-kafka present"; \
	fi
endif

vet:
	$(GO) vet ./...

# go test also runs every Fuzz target once over its seed corpus. itest runs
# the binary that build just made.
test: deps build vet
	CHRONIK_BIN=$(abspath $(BIN)/chronik) $(GO) test -race -count=1 -timeout 15m ./...

# Longer fuzzing, by hand: each Fuzz target of each package for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Many rounds of every crash test: kill -9 of the real broker under acks=-1
# load (itest), simulated power cuts with torn tails (wal, engine).
CRASH_ROUNDS ?= 30
crash-soak: build
	CHRONIK_CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -timeout 60m \
		-run 'TestAckedBatchesSurviveCrashesAcrossLogs|TestAckedProducesSurviveCrashesThroughTheEngine' ./wal ./engine
	CHRONIK_BIN=$(abspath $(BIN)/chronik) CHRONIK_CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -timeout 60m \
		-run 'TestNoLossNoDuplicateAcrossCrashMidStream' ./itest

clean:
	rm -rf $(BIN)
