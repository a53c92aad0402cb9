# Two entry points for a fresh machine (README "Quick start"): `make demo` and `make test`.
# Both install the Debian packages the build needs first (idempotent; root or sudo).
SHELL := /bin/bash
DEB_PACKAGES := libisal-dev libpcre2-dev zlib1g-dev liblzma-dev libbz2-dev libzstd-dev libsqlite3-dev
# Oracles and probes the tests use (bgzip from tabix, /usr/bin/time from time; xzcat, bzcat,
# zstdcat and their grep scripts from xz-utils, bzip2, zstd; sqlite3 and PostgreSQL's server,
# initdb, pg_ctl and psql, and ClickHouse's server and client, which the database tests start
# and read with; curl asks a starting ClickHouse whether it is up).
TEST_PACKAGES := gzip grep sed perl tabix time procps xz-utils bzip2 zstd sqlite3 postgresql logrotate tmux jq miller curl clickhouse-server clickhouse-client
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_FLAGS ?=

.PHONY: deps build release release-sluice demo test sanitize sanitize-address bench fuzz clean install

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	swift build $(SWIFT_FLAGS)

# The release binary is linked by lld with packed relative relocations (DT_RELR, glibc 2.36):
# the 3 MB of relocation entries gold writes for the static Swift runtime and the packages
# become 25 KB, and an empty run went from 16.3 to 15.2 ms (hyperfine, 3 x 100 runs), with
# AsyncHTTPClient linked in (it had added 1.6 ms under gold). Without the toolchain's ld.lld: gold.
LLD := $(shell d=$$(dirname "$$(readlink -f "$$(command -v swift)")"); [ -x "$$d/ld.lld" ] && echo "$$d/ld.lld")
RELEASE_TOOLSET := $(CURDIR)/.build/release-toolset.json
# `release-sluice`: sluice alone (no PostgresNIO, AsyncHTTPClient, swift-nio to build: what the
# demo needs); `release`: also sluice-servers, which sluice runs for database servers.
# With the Swift runtime linked statically, libstdc++ (which only the runtime uses) is too:
# `-lstdc++` finds the linker script in Linker/static-libstdc++ first (loading the shared one
# was 0.7 ms of every start). Only here, with --static-swift-stdlib: a build whose runtime is
# shared would hold two copies of libstdc++.
# libgcc (its unwinder, which the runtime's backtraces use) is linked in too: loading
# libgcc_s.so.1 and running its constructor (a dozen CPUID instructions, each a trap to the
# hypervisor on a virtual machine) was 0.2 ms of an empty run's 4.3 ms.
RELEASE_FLAGS = --static-swift-stdlib --disable-local-rpath -Xswiftc -L$(CURDIR)/Linker/static-libstdc++ -Xswiftc -Xclang-linker -Xswiftc -static-libgcc $(if $(LLD),--toolset $(RELEASE_TOOLSET))
check_static_cxx = if readelf -d $(1) | grep -q 'NEEDED.*libstdc++'; then echo "warning: $(1) loads libstdc++.so (Linker/static-libstdc++ was not used): it starts 0.7 ms slower" >&2; fi; \
	if readelf -d $(1) | grep -q 'NEEDED.*libgcc_s'; then echo "warning: $(1) loads libgcc_s.so (-static-libgcc was not used): it starts 0.2 ms slower" >&2; fi

release-sluice: deps
	@mkdir -p .build; if [ -n "$(LLD)" ]; then \
		printf '{"schemaVersion": "1.0", "linker": {"path": "%s", "extraCLIOptions": ["-z", "pack-relative-relocs"]}}\n' "$(LLD)" > $(RELEASE_TOOLSET); fi
	swift build -c release --product sluice $(RELEASE_FLAGS)
	@$(call check_static_cxx,.build/release/sluice)

release: release-sluice
	swift build -c release --product sluice-servers $(RELEASE_FLAGS)
	@$(call check_static_cxx,.build/release/sluice-servers)

# Extract the ERROR lines of a shipped gzip log and export them in gzip batches of 100 lines.
demo: release-sluice
	@rm -rf demo-out && mkdir -p demo-out
	.build/release/sluice --stats -e ERROR -b 100 -O 'demo-out/errors-{n:3}.log.gz' Fixtures/app.log.gz
	@ls demo-out | head -5; echo "... $$(ls demo-out | wc -l) files in demo-out/"; \
	echo "check: $$(zcat demo-out/*.gz | wc -l) lines exported; zcat | grep finds $$(zcat Fixtures/app.log.gz | LC_ALL=C grep -c ERROR)"

test: deps
	SWIFT_BACKTRACE=enable=no swift test $(SWIFT_FLAGS)

# The suite under ThreadSanitizer (memory-limit tests are skipped: shadow memory), but for
# TSAN_SKIP: suites that check bytes against an oracle (grep, jq, Miller, PCRE2) flag by flag
# through the pipeline every other suite runs too, and pure functions' unit suites. Their CPU
# was 38% of the suite's (debug, per suite), and under TSan the whole took 31 of CI's 88 min.
# `make sanitize TSAN_SKIP=` runs everything.
# Every report (of the test process and of the sluice processes the tests start) goes to a
# file under .build-tsan/reports and is printed whole at the end, where CI's tail shows it.
TSAN_SKIP ?= \.(Fields|GrepContract|DifferentialGrep|BacktrackingLimit|RowStream|PCREDifferential|PosixPattern|LiteralSearch|MultiLiteralSearch|MapTransform)Tests(/|$$)
sanitize: deps
	@rm -rf .build-tsan/reports && mkdir -p .build-tsan/reports
	SWIFT_BACKTRACE=enable=no SLUICE_SANITIZER=thread TSAN_OPTIONS="log_path=$(CURDIR)/.build-tsan/reports/tsan" \
		swift test --sanitize=thread --scratch-path .build-tsan $(if $(TSAN_SKIP),--skip '$(TSAN_SKIP)'); status=$$?; \
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

# The binary, its manual page and completions for bash, zsh and fish, all generated by the
# binary from its own option table and help (`--generate-completion-script`, `--generate-manual`).
PREFIX ?= /usr/local
DESTDIR ?=
install: release
	install -D -s -m 0755 .build/release/sluice $(DESTDIR)$(PREFIX)/bin/sluice  # stripped, runs the same
	install -D -s -m 0755 .build/release/sluice-servers $(DESTDIR)$(PREFIX)/bin/sluice-servers  # -O postgresql://, clickhouse:// (sluice runs it)
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	.build/release/sluice --generate-manual > $(DESTDIR)$(PREFIX)/share/man/man1/sluice.1
	.build/release/sluice --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sluice
	.build/release/sluice --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_sluice
	.build/release/sluice --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/sluice.fish

bench: deps
	python3 Benchmarks/bench.py

clean:
	rm -rf .build .build-tsan .build-asan .build-fuzz .build-release demo-out
