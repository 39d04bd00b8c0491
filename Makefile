# citygate — the two commands of the README are `make demo` and `make test`.
# Every target first makes sure the Debian packages in packaging/debian-build-deps.txt are
# installed (installing only what is missing; nothing when nothing is).

SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
SOAK_KILLS ?= 1000
SOAK_TIMEOUT ?= 3600
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test soak sanitize bench demo clean fuzz fuzz-build docs

all: build

deps:
	@packaging/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD)/build.ninja ]; then cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS); fi

build: configure
	@ninja -C $(BUILD) -j$(JOBS) citygate
	@echo "built $(BUILD)/citygate"

test: configure
	@ninja -C $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest -j$(JOBS) --output-on-failure --timeout 600
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=8

# The kill -9 loop of tests/integration/killloop_test.cpp (`make test` runs it with 50 kills through
# ctest) alone, with SOAK_KILLS kills (1000) and SOAK_TIMEOUT seconds (1 h) instead of ctest's 300.
# The seed is printed first; CITYGATE_KILL_SEED=<seed> make soak replays its pauses and lake kills.
soak: configure
	@ninja -C $(BUILD) -j$(JOBS) citygate test_integration
	@CITYGATE_KILLS=$(SOAK_KILLS) timeout --foreground --kill-after=30 $(SOAK_TIMEOUT) \
	  $(BUILD)/tests/integration/test_integration "[killloop]"

# libFuzzer targets (clang 14, ASan+UBSan, leak checks): every codec and the HTTP ingest path.
fuzz-build: deps
	@if [ ! -f $(FUZZ_BUILD)/build.ninja ]; then CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -G Ninja \
	  -DCITYGATE_FUZZ=ON -DCITYGATE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi
	@ninja -C $(FUZZ_BUILD) -j$(JOBS) fuzz_all

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

sanitize: deps
	@if [ ! -f $(ASAN_BUILD)/build.ninja ]; then cmake -S . -B $(ASAN_BUILD) -G Ninja -DCITYGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug; fi
	@ninja -C $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j$(JOBS) --output-on-failure --timeout 900

bench: configure
	@ninja -C $(BUILD) -j$(JOBS) citygate citygate-bench citygate-bench-ingest citygate-bench-backlog
	@$(BUILD)/bench/citygate-bench
	@$(BUILD)/bench/citygate-bench-ingest
	@$(BUILD)/bench/citygate-bench-backlog

# Rewrites the generated docs (docs/config.md tables, adapter README key tables) from the key tables.
docs: build
	@python3 docs/regenerate.py $(BUILD)/citygate

demo: build
	@packaging/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
