# Two entry points for a fresh machine (README "Quick start"): `make demo` and `make test`.
# Both install the Debian packages the build needs first (idempotent; root or sudo).
SHELL := /bin/bash
DEB_PACKAGES := libisal-dev libpcre2-dev zlib1g-dev liblzma-dev libbz2-dev libzstd-dev libsqlite3-dev
# Oracles and probes the tests use (bgzip from tabix, /usr/bin/time from time; xzcat, bzcat,
# zstdcat and their grep scripts from xz-utils, bzip2, zstd; sqlite3 and PostgreSQL's server,
# initdb, pg_ctl and psql, which the database tests start and read with).
TEST_PACKAGES := gzip grep sed perl tabix time procps xz-utils bzip2 zstd sqlite3 postgresql logrotate
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_FLAGS ?=

.PHONY: deps build release demo test sanitize sanitize-address bench fuzz clean

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	swift build $(SWIFT_FLAGS)

release: deps
	swift build -c release --product sluice --static-swift-stdlib

# Extract the ERROR lines of a shipped gzip log and export them in gzip batches of 100 lines.
demo: release
	@rm -rf demo-out && mkdir -p demo-out
	.build/release/sluice --stats -e ERROR -b 100 -O 'demo-out/errors-{n:3}.log.gz' Fixtures/app.log.gz
	@ls demo-out | head -5; echo "... $$(ls demo-out | wc -l) files in demo-out/"; \
	echo "check: $$(zcat demo-out/*.gz | wc -l) lines exported; zcat | grep finds $$(zcat Fixtures/app.log.gz | LC_ALL=C grep -c ERROR)"

test: deps
	SWIFT_BACKTRACE=enable=no swift test $(SWIFT_FLAGS)

# The whole suite under ThreadSanitizer (memory-limit tests are skipped: shadow memory).
# Every report (of the test process and of the sluice processes the tests start) goes to a
# file under .build-tsan/reports and is printed whole at the end, where CI's tail shows it.
sanitize: deps
	@rm -rf .build-tsan/reports && mkdir -p .build-tsan/reports
	SWIFT_BACKTRACE=enable=no SLUICE_SANITIZER=thread TSAN_OPTIONS="log_path=$(CURDIR)/.build-tsan/reports/tsan" \
		swift test --sanitize=thread --scratch-path .build-tsan; status=$$?; \
	if ls .build-tsan/reports/tsan.* >/dev/null 2>&1; then \
		echo "== ThreadSanitizer reports"; cat .build-tsan/reports/tsan.*; exit 1; fi; \
	exit $$status

# The whole suite under AddressSanitizer. Leak detection is off: XCTest and the Swift runtime
# leave objects behind at exit that LeakSanitizer reports (and its exit status 1 would read
# as grep's "nothing selected" in the end-to-end tests).
sanitize-address: deps
	SWIFT_BACKTRACE=enable=no SLUICE_SANITIZER=address ASAN_OPTIONS=detect_leaks=0 swift test --sanitize=address --scratch-path .build-asan

# Both libFuzzer targets for FUZZ_SECONDS each (Fuzz/README.md).
FUZZ_SECONDS ?= 60
fuzz: deps
	Fuzz/run.sh all $(FUZZ_SECONDS)

bench: deps
	python3 Benchmarks/bench.py

clean:
	rm -rf .build .build-tsan .build-asan .build-fuzz .build-release demo-out
