# netmodels — the two commands a user needs are `make bench` and `make test`.
# Both install what they need first (`make deps`): Debian packages when run as
# root, Go modules always.

SHELL       := /bin/bash
GO          ?= go
BIN         := bin
# Every engine module is impl-<name> with its main package in cmd/<name>.
# (ENGINES, if set by the user, is passed to the conformance suite as is:
# a comma-separated list of the engines to test.)
ENGINE_MODS := $(patsubst impl-%,%,$(wildcard impl-*))
MODULES     := core $(addprefix impl-,$(ENGINE_MODS)) conformance perf
space := $(empty) $(empty)
comma := ,
KERNEL_ENGINES := $(subst $(space),$(comma),$(filter-out dpdk,$(ENGINE_MODS)))
ALL_ENGINES    := $(subst $(space),$(comma),$(ENGINE_MODS))
# The engines the suite and perf run when ENGINES is unset: all of them where
# bin/dpdk can serve (built with libdpdk, run as root: it needs a private
# network namespace and tap devices, core/dpdknet), else the kernel engines.
# Decided when the recipe runs, after `make deps` installed libdpdk-dev.
DEFAULT_ENGINES_SH = if [ -d impl-dpdk ] && pkg-config --exists libdpdk 2>/dev/null && [ "$$(id -u)" = 0 ]; then echo $(ALL_ENGINES); else echo $(KERNEL_ENGINES); fi
# Debian packages: real peers (haproxy, ceph-mon, ceph-osd and librados's
# rados (ceph-common) for the fake-OSD case, redis-server for the
# proxy's health-check cases, openssl s_client for the content-rule cases),
# unshare (util-linux), network namespaces (iproute2), ps/free (procps),
# ssh, scp and sshd for `perf run --hosts` and its test (openssh-client,
# openssh-server: the test starts its own sshd in a network namespace; the
# package's service is not used), chromium for the report page's headless
# check (perf/headless: a test in make test, required under CI) and the
# summary.png that `perf run` publishes.
DEB_PKGS    := haproxy ceph-mon ceph-osd ceph-common redis-server util-linux iproute2 procps openssl openssh-client openssh-server chromium
# DPDK for impl-dpdk, only once that module exists.
ifneq ($(wildcard impl-dpdk),)
DEB_PKGS    += dpdk libdpdk-dev pkg-config
endif
RACE        ?= -race
GOTESTFLAGS ?=
BENCHFLAGS  ?=
FUZZTIME    ?= 1m
DURATION    ?= 10m

.PHONY: all deps build test vet unit conformance perf-smoke bench report clean help fuzz soak

all: build

help:
	@echo "make bench   measure every built engine and the anchors, publish results/"
	@echo "make test    vet, unit tests (-race), engine kit, conformance suite"
	@echo "make deps | build | clean"
	@echo "make report [RUN=results/<id>]  re-render a run from its run.json (default results/latest)"
	@echo "make fuzz    every FuzzX target, FUZZTIME (default 1m) each"
	@echo "make soak    every engine for DURATION (default 10m) each, one after another: messenger under injected failures, proxy across backend restarts; results/soak/; then the churn cases at 100,000 cycles (CONFORMANCE_CHURN=100000)"

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "deps: missing Debian packages:$$missing (run 'make deps' as root)"; \
	    case " $$missing " in *" chromium "*) \
	      echo "deps: without chromium the report page test skips (it fails under CI=true) and perf run publishes no summary.png";; \
	    esac; \
	  fi; \
	fi
	@for m in $(MODULES); do (cd $$m && $(GO) mod download) || exit 1; done

# bin/dpdk is built with DPDK (build tag dpdk) where libdpdk's development
# files are installed; otherwise it is a stub that exits 2 saying so.
build: deps
	@mkdir -p $(BIN)
	@for e in $(ENGINE_MODS); do \
	  tags=""; \
	  if [ "$$e" = dpdk ] && pkg-config --exists libdpdk 2>/dev/null; then tags="-tags dpdk"; fi; \
	  echo "build $(BIN)/$$e $$tags"; \
	  $(GO) build $$tags -o $(BIN)/$$e ./impl-$$e/cmd/$$e || exit 1; \
	done

vet:
	@for m in $(MODULES); do echo "vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Unit tests: core and the engines under the race detector (they run the
# engine kit), perf's own tests plain. Each kernel engine's TestZeroAlloc
# (0 allocations per message on the msgr echo fast path and the proxy
# relay) is built only without -race, whose runtime allocates by itself,
# so after a race run it runs once more in a plain build (one extra test
# binary per engine, a few seconds each).
# impl-dpdk's DPDK tests need root (each test binary makes its own network
# namespace) and libdpdk; under CI they are required, elsewhere only the
# DPDK-free tests run when either is missing.
# Under CI every test runs every time: a result cached by an earlier run on
# the machine (same files, same path) would hide a flaky test.
CI_COUNT    := $(if $(filter true,$(CI)),-count=1,)

unit:
	@for m in core $(addprefix impl-,$(ENGINE_MODS)); do \
	  tags=""; \
	  if [ "$$m" = impl-dpdk ]; then \
	    if pkg-config --exists libdpdk 2>/dev/null && [ "$$(id -u)" = 0 ]; then tags="-tags dpdk"; \
	    elif [ "$$CI" = true ]; then echo "impl-dpdk: DPDK tests need root and libdpdk-dev"; exit 1; \
	    else echo "impl-dpdk: running without DPDK (needs root and libdpdk-dev)"; fi; \
	  fi; \
	  echo "test $$m $$tags"; (cd $$m && $(GO) test $(RACE) $(CI_COUNT) $$tags -timeout 15m $(GOTESTFLAGS) ./...) || exit 1; \
	done
	@if [ -n "$(RACE)" ]; then for m in $(addprefix impl-,$(filter-out dpdk,$(ENGINE_MODS))); do \
	  echo "test $$m TestZeroAlloc (no -race)"; \
	  (cd $$m && $(GO) test -count=1 -run '^TestZeroAlloc$$' -timeout 5m $(GOTESTFLAGS) .) || exit 1; \
	done; fi
	@echo "test perf"; cd perf && $(GO) test $(CI_COUNT) -timeout 10m $(GOTESTFLAGS) ./...

# The black-box suite against every engine (or ENGINES=a,b). With dpdk among
# them the suite re-executes itself in a private network namespace and gives
# each bin/dpdk process its own tap (conformance/internal/harness/topology.go).
# The -timeout has room for msgr-inject-100k on dpdk, which takes up to ~10
# minutes on a loaded 2-core machine (its client fails a stall by itself).

conformance: build
	@engines="$${ENGINES:-$$($(DEFAULT_ENGINES_SH))}"; echo "conformance: $$engines"; \
	cd conformance && BIN_DIR=$(CURDIR)/$(BIN) ENGINES="$$engines" \
	  $(GO) test -count=1 -timeout 40m $(GOTESTFLAGS) ./...

# The perf harness's smoke suite (seconds): proves the harness runs end to
# end and prints the comparison with the last published run; noise never
# fails it, a broken harness does.
perf-smoke: build
	@engines="$${ENGINES:-$$($(DEFAULT_ENGINES_SH))}"; \
	case ",$$engines," in *,dpdk,*) engines="$$engines,dpdk-memif";; esac; \
	$(GO) run ./perf/cmd/perf run --smoke --no-publish --repo . --results .cache/perf-smoke \
	  --engines "$$engines" --compare results/latest

test: build vet unit conformance perf-smoke

# The perf harness (perf/README.md): every engine and the anchors (raw TCP,
# haproxy, ceph-mon) in one run; BENCHFLAGS=--quick for the short suite.
# With dpdk (root and libdpdk) the run moves into a private network namespace
# and adds dpdk over tap and dpdk-memif.
bench: build
	@engines="$${ENGINES:-$$($(DEFAULT_ENGINES_SH))}"; \
	case ",$$engines," in *,dpdk,*) engines="$$engines,dpdk-memif";; esac; \
	echo "bench: $$engines"; \
	$(GO) run ./perf/cmd/perf run --repo . --engines "$$engines" $(BENCHFLAGS)

# RUN is the run folder to re-render (report.md and charts; index.html too
# for results/latest, the one published page): make report RUN=results/<id>.
RUN ?= results/latest
report:
	$(GO) run ./perf/cmd/perf report $(RUN)

# Every fuzz target of every module (func FuzzX in a *_test.go), each for
# FUZZTIME (default 1m: with 44 targets today, 45 minutes); a crasher is
# written to the package's testdata/fuzz (commit it: it then runs in every
# `make test` as a regression case). Every target runs even after a crash;
# the exit status is 1 if any crashed, and the failed targets are listed.
# make test runs the seed corpora only (as plain tests).
fuzz:
	@failed=""; for m in $(MODULES); do \
	  for f in $$(cd $$m && grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	    d=$$(dirname $$f); \
	    for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$m/$$f); do \
	      echo "fuzz $$m/$$d $$t"; \
	      (cd $$m && $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$d) || failed="$$failed $$m/$$d:$$t"; \
	    done; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashed:$$failed"; exit 1; fi; echo "fuzz: no crashes"

# The soak (perf/README.md, "Soak"): the engines make bench runs, one
# after another, each for DURATION / engines: the lossless messenger under
# injected socket failures and the proxy across backend restarts at once,
# RSS, descriptors and goroutines sampled every second into results/soak/
# (<engine>.csv and .svg, soak.json, summary.md). Exits 1 if a message is
# lost, duplicated or reordered, a relayed byte differs, the proxy does not
# recover, or a process grows steadily. Bounded by (DURATION + 30 s) per
# engine (draining and stopping). Then the churn cases at the issue's full
# 100,000 connect/close cycles (msgr-churn-100k, proxy-churn-100k: up to a
# minute or so per cell; make test runs them at 10,000); either part
# failing fails the target. The idle floods (msgr-idle-10k,
# proxy-idle-10k) are conformance cases of make test.
soak: build
	@engines="$${ENGINES:-$$($(DEFAULT_ENGINES_SH))}"; echo "soak: $$engines, $(DURATION) each"; \
	$(GO) run ./perf/cmd/perf soak --repo . --engines "$$engines" --duration $(DURATION); st=$$?; \
	echo "soak: churn at 100,000 cycles"; \
	(cd conformance && CONFORMANCE_CHURN=100000 BIN_DIR=$(CURDIR)/$(BIN) ENGINES="$$engines" \
	  $(GO) test -count=1 -timeout 60m -run 'TestConformance/.*/(msgr|proxy)-churn-100k$$' ./suite/) || st=1; \
	exit $$st

clean:
	rm -rf $(BIN)
	@for m in $(MODULES); do (cd $$m && $(GO) clean -testcache) >/dev/null 2>&1 || true; done
