# Chronik — build, run and test. `make help` lists the targets.

GO       ?= go
PYTHON   := /usr/bin/python3
BIN      := bin
FUZZTIME ?= 60s
KAFKAJS  := 2.2.4
# Every main package under cmd/ is built into bin/; cmd/chronik must exist.
CMDS     := $(sort ./cmd/chronik $(patsubst %/,./%,$(dir $(wildcard cmd/*/*.go))))
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help build build-debug run cluster deps test vet fuzz clean crash-soak bench bench-cluster bench-gate bench-gate-rates bench-failover bench-restart bench-scale profile profile-diff chaos

help:
	@echo "make build  build $(CMDS) into $(BIN)/"
	@echo "make build-debug  build $(BIN)/chronik-debug: chronik with the debug.* test hooks (-tags chronikdebug), never shipped"
	@echo "make run    build, then serve on 127.0.0.1:9092 with data in ./data"
	@echo "make cluster  build, then run 3 brokers on 127.0.0.1:9092-9094 until Ctrl-C (CLUSTER_DIR=dir keeps the data)"
	@echo "make deps   install kcat, python3-confluent-kafka (apt) and kafkajs (npm, itest/js) when missing"
	@echo "make test   deps, build, build-debug, go vet, go test -race (unit, fuzz seeds, itest; engine again with -tags chronikdebug)"
	@echo "make fuzz   run every Fuzz target for FUZZTIME=$(FUZZTIME) each"
	@echo "make crash-soak  CRASH_ROUNDS=$(CRASH_ROUNDS) rounds of each crash test (kill -9, simulated power cut)"
	@echo "make chaos  CHAOS_FAULTS=$(CHAOS_FAULTS) seeded faults on 3 brokers under checked load -> chaos-results/ (CHAOS_SEED, CHAOS_FLAGS)"
	@echo "make clean  remove $(BIN)/"
	@echo "make bench       standalone (Chronik vs kfake) + cluster lab (RF=3, bandwidth, ISR shrink, failover) + short scale sweeps with issue 15's goals judged (<= 10 min) -> bench-results/<timestamp>/ (BENCH_FLAGS=--no-scale: no sweeps)"
	@echo "make bench-cluster  the cluster lab only (~4-5 min; BENCH_FLAGS=--rounds N --kills N ...)"
	@echo "make bench-gate  gate suite vs benchmarks/baseline.json (throughput, CPU/record, e2e p99, CPU/record at 1,000 partitions) + cluster budgets (follower bytes, failover p99); fails on a regression, says what moved (3-10 min)"
	@echo "make bench-gate-rates  RATES_RUNS=$(RATES_RUNS) gate runs each unchanged and slowed (chronik-debug): false alarms, detections (hours)"
	@echo "make bench-failover  3-broker RF=3 cluster, leaders killed under acks=-1 load (~2 min; FAILOVER_FLAGS=--kills N ...)"
	@echo "make bench-restart  kill -9 of a broker holding 1 GiB and 10 GiB in 100 partitions, and 10,000 idle partitions: time to serve again (RESTART_FLAGS=...)"
	@echo "make bench-scale  partitions, connections, producers and record sizes swept one at a time (~8 min; SCALE_FLAGS=--short: ~1.5 min)"
	@echo "make profile     pprof capture during PROFILE_SCENARIO=$(PROFILE_SCENARIO) + summary"
	@echo "make profile-diff BEFORE=dir AFTER=dir   what grew between two captures"

build:
	$(GO) build -o $(BIN)/ $(CMDS)

# bin/chronik-debug: chronik with the debug.* test hooks (engine/debug.go),
# for the regression gate's tests and detection runs only; never shipped.
build-debug:
	$(GO) build -tags chronikdebug -o $(BIN)/chronik-debug ./cmd/chronik

run: build
	$(BIN)/chronik serve --listen 127.0.0.1:9092 --data-dir ./data

# A 3-broker cluster in the foreground (testbed); data in a temporary
# directory unless CLUSTER_DIR is set.
CLUSTER_DIR ?=
cluster: build
	$(BIN)/chronik-testbed -n 3 -kafka-ports 9092,9093,9094 -bin $(BIN)/chronik $(if $(CLUSTER_DIR),-dir $(CLUSTER_DIR))

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
	@# kafkajs for the consumer-group interop test, into a gitignored folder.
	@if [ -f itest/js/node_modules/kafkajs/package.json ]; then \
		echo "deps: kafkajs $(KAFKAJS) present"; \
	else \
		echo "deps: installing kafkajs@$(KAFKAJS) into itest/js"; \
		mkdir -p itest/js && npm install --prefix itest/js --no-save --no-audit --no-fund kafkajs@$(KAFKAJS); \
	fi
endif

vet:
	$(GO) vet ./...
	$(GO) vet -tags chronikdebug ./engine

# go test also runs every Fuzz target once over its seed corpus. itest runs
# the binary that build just made; benchmarks' gate test also the one
# build-debug made. The engine's tests of its debug.* hooks (debug_test.go)
# only build with -tags chronikdebug: the second line runs them.
test: deps build build-debug vet
	CHRONIK_BIN=$(abspath $(BIN)/chronik) CHRONIK_DEBUG_BIN=$(abspath $(BIN)/chronik-debug) \
		$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -race -count=1 -tags chronikdebug -run 'Debug' ./engine

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

# The chaos testbed (testbed/chaos): a 3-broker cluster behind
# fault-injecting proxies, RF 3, min.insync.replicas 2, idempotent acks=-1
# producers and concurrent readers through CHAOS_FAULTS faults of a seeded
# schedule, then every record checked. results.json, REPORT.md and a
# timeline under chaos-results/; exit 1 when a check fails. The brokers run
# bin/chronik-debug: the fsync-fail and slow-disk faults switch its disk
# fault (POST /debug/disk on the admin listener).
CHAOS_FAULTS ?= 100
CHAOS_SEED   ?= 0
CHAOS_FLAGS  ?=
chaos: build build-debug
	$(BIN)/chronik-testbed chaos -bin $(BIN)/chronik-debug -brokers 3 -rf 3 -min-insync 2 -faults $(CHAOS_FAULTS) -seed $(CHAOS_SEED) $(CHAOS_FLAGS)

# The benchmark lab (cmd/chronik-bench, benchmarks/, perf/). Results go to
# bench-results/ (gitignored); benchmarks/baseline.json is committed.
PROFILE_SCENARIO ?= produce-acks1
BENCH_FLAGS      ?=

# make bench: the standalone suite, the cluster lab and the short scale
# sweeps (bench-scale's --short, ~1.5 min of it) in one run. Shorter or
# longer with BENCH_FLAGS: --rounds N (runner scenarios, default 3),
# --kills N --controller-kills N --sigterms N (failover, default 20/5/5),
# --bandwidth-records N (default 100000), --isr-window D (default 3s),
# --no-cluster (no cluster part), --no-scale (no sweeps),
# --scale-flags '--short=false' (the full sweeps of make bench-scale).
bench: build
	$(BIN)/chronik-bench bench --chronik-bin $(BIN)/chronik $(BENCH_FLAGS)

# The cluster part alone: RF=3 next to standalone (acks=1, acks=-1, e2e),
# per-follower bandwidth, a follower SIGSTOPped, failover.
bench-cluster: build
	$(BIN)/chronik-bench bench --cluster-only --chronik-bin $(BIN)/chronik $(BENCH_FLAGS)

bench-gate: build
	$(BIN)/chronik-bench gate --chronik-bin $(BIN)/chronik --baseline benchmarks/baseline.json $(BENCH_FLAGS)

# The failover benchmark: kill -9 / SIGTERM of leaders of a 3-broker RF=3
# cluster under idempotent acks=-1 load -> bench-results/failover-<timestamp>/.
FAILOVER_FLAGS ?=
bench-failover: build
	$(BIN)/chronik-bench failover --chronik-bin $(BIN)/chronik $(FAILOVER_FLAGS)

# Restart after kill -9 with data, and start with many idle partitions
# (benchmarks/restart.go). RESTART_FLAGS='--arms before=OLD_BIN,after=bin/chronik'
# compares two binaries in one run (a binary holding 3 files per partition,
# main before its one-descriptor change, cannot open 10,000 under a 20,000
# RLIMIT_NOFILE: give it --idle-partitions 6000).
RESTART_FLAGS ?= --arms chronik=$(BIN)/chronik
bench-restart: build
	$(BIN)/chronik-bench restart $(RESTART_FLAGS)

# The scale sweeps (issue 15, cost as the work grows): partitions 1 -> 10,000
# on one broker, idle connections 1 -> 5,000 beside busy producers, producers
# 1 -> 64 and record sizes 100 B -> 1 MB against kfake and the box's disk and
# loopback limits -> bench-results/scale-<timestamp>/. SCALE_FLAGS=--short
# for a quick pass; --sweeps partitions,connections,load picks sweeps.
SCALE_FLAGS ?=
bench-scale: build
	$(BIN)/chronik-bench scale --chronik-bin $(BIN)/chronik $(SCALE_FLAGS)

# The gate's own error rates, by hand (not CI): RATES_RUNS gate runs of the
# unchanged broker and of each default slowdown, taking turns.
RATES_RUNS ?= 20
bench-gate-rates: build build-debug
	$(BIN)/chronik-bench gate-rates --runs $(RATES_RUNS) --chronik-bin $(BIN)/chronik \
		--chronik-debug-bin $(BIN)/chronik-debug --baseline benchmarks/baseline.json $(BENCH_FLAGS)

profile: build
	$(BIN)/chronik-bench profile --chronik-bin $(BIN)/chronik --scenario $(PROFILE_SCENARIO) $(BENCH_FLAGS)

profile-diff: build
	$(BIN)/chronik-bench profile-diff $(BEFORE) $(AFTER)
