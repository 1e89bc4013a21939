# bannerlab: bannerd, smtpprobe, slowdns, slowrelay.
# Quiet by default; V=1 shows the commands. SANITIZE=1 builds with ASan+UBSan
# into a separate tree (build-san/), SANITIZE=thread with ThreadSanitizer
# into build-tsan/, so a sanitizer run never mixes objects.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/sbin
TOOLDIR   ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
# A system install (PREFIX=/usr) keeps its configuration in /etc, as the FHS
# and every distribution do; any other prefix has its own etc/.
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
UNITDIR   ?= $(PREFIX)/lib/systemd/system
LABDIR    ?= $(PREFIX)/share/bannerlab
DESTDIR   ?=

CC      ?= cc
PKGS     = libevent_core libevent_extra libevent_pthreads libcares inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

# CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS are the user's (make CFLAGS=-O0):
# they come after the project's own flags, which live in the BL_ variables,
# so that setting one on the command line adds to the build, never takes
# the include paths or the warnings away.
WARNINGS = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter
CFLAGS     ?= -O2 -g
BL_CFLAGS   = -std=c11 -D_GNU_SOURCE $(WARNINGS) -Icommon -Idaemon $(PKG_CFLAGS) -MMD -MP
BL_LDFLAGS  =
BL_LDLIBS   = $(PKG_LIBS) -lpthread -lm

ifeq ($(WERROR),1)
BL_CFLAGS += -Werror
endif
ifeq ($(SANITIZE),1)
B = build-san
BL_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BL_LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),thread)
# ThreadSanitizer cannot share a process with ASan: a tree of its own.
B = build-tsan
BL_CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
BL_LDFLAGS += -fsanitize=thread
else
B = build
endif

ALL_CFLAGS  = $(BL_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(BL_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS  = $(BL_LDLIBS) $(LDLIBS)

ifeq ($(V),1)
Q =
else
Q = @
endif

COMMON_SRC  := $(wildcard common/*.c)
DAEMON_SRC  := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
PROBE_SRC   := $(wildcard tools/smtpprobe/*.c)
SLOWDNS_SRC := $(wildcard tools/slowdns/*.c)
RELAY_SRC   := $(wildcard tools/slowrelay/*.c)
CTL_SRC     := $(wildcard tools/bannerctl/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
FLOOR_SRC   := $(wildcard tests/floor_*.c)
SHIM_SRC    := $(wildcard tests/shims/*.c)

obj = $(patsubst %.c,$(B)/%.o,$(1))

# The live page (web/), its chart library (vendor/uplot/) and smtpprobe's
# profile table, compiled into bannerd (daemon/webassets.h): URL path =
# file, turned into one C file by scripts/webembed.
WEB_ASSETS  = /=web/live.html /static/live.js=web/live.js /static/live.css=web/live.css \
              /static/uPlot.iife.min.js=vendor/uplot/uPlot.iife.min.js \
              /static/uPlot.min.css=vendor/uplot/uPlot.min.css \
              /static/uPlot-LICENSE.txt=vendor/uplot/LICENSE \
              /static/profiles.json=$(B)/gen/profiles.json
WEB_OBJ     = $(B)/gen/webassets_data.o

COMMON_OBJ  := $(call obj,$(COMMON_SRC))
DAEMON_OBJ  := $(call obj,$(DAEMON_SRC))
PROBE_OBJ   := $(call obj,$(PROBE_SRC))
SLOWDNS_OBJ := $(call obj,$(SLOWDNS_SRC))
RELAY_OBJ   := $(call obj,$(RELAY_SRC))
PROBE_LIB   := $(filter-out $(B)/tools/smtpprobe/main.o,$(PROBE_OBJ))
SLOWDNS_LIB := $(filter-out $(B)/tools/slowdns/main.o,$(SLOWDNS_OBJ))
RELAY_LIB   := $(filter-out $(B)/tools/slowrelay/main.o,$(RELAY_OBJ))
UNIT_BIN    := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
SHIMS       := $(patsubst tests/shims/%.c,$(B)/tests/shims/%.so,$(SHIM_SRC))

PROGRAMS = $(B)/bin/bannerd $(if $(PROBE_SRC),$(B)/bin/smtpprobe) \
           $(if $(SLOWDNS_SRC),$(B)/bin/slowdns) $(if $(RELAY_SRC),$(B)/bin/slowrelay) \
           $(if $(CTL_SRC),$(B)/bin/bannerctl) \
           $(patsubst tests/%.c,$(B)/bin/%,$(FLOOR_SRC))

.PHONY: all deps deps-build check check-unit check-e2e check-tsan demo bench torture fuzz install \
        uninstall clean distclean lint-man
all: deps-build $(PROGRAMS) $(SHIMS)

# Build-time dependencies are checked, not installed, by a plain `make`;
# `make demo` installs what is missing for building and the lab, `make
# check` also what only the tests need (promtool: from PATH, or unpacked
# into .deps/), `make fuzz` clang. With nothing missing none of them
# calls apt: the demo and the lab run offline.
deps-build:
	@pkg-config --exists $(PKGS) || { echo "missing build dependencies: run scripts/install-deps" >&2; exit 1; }
deps:
	$(Q)scripts/install-deps

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Each program: its own objects, listed here, and common/ for all of them,
# linked by the one rule below.
$(B)/bin/bannerd:   $(B)/daemon/main.o $(DAEMON_OBJ) $(WEB_OBJ)
$(B)/bin/smtpprobe: $(PROBE_OBJ)
$(B)/bin/slowdns:   $(SLOWDNS_OBJ)
$(B)/bin/slowrelay: $(RELAY_OBJ)
$(addprefix $(B)/bin/,bannerd smtpprobe slowdns slowrelay): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

# The profile table comes from smtpprobe itself, the one source of the
# thresholds: built first, run here (it only prints).
$(B)/gen/profiles.json: $(B)/bin/smtpprobe
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)$(B)/bin/smtpprobe --profile list --json $@.tmp && mv $@.tmp $@

$(B)/gen/webassets_data.c: scripts/webembed $(foreach a,$(WEB_ASSETS),$(lastword $(subst =, ,$(a))))
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)scripts/webembed $(WEB_ASSETS) >$@.tmp && mv $@.tmp $@

$(WEB_OBJ): $(B)/gen/webassets_data.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
# bannerctl is plain sockets: only common/control.h's constants, and
# inih to read -c's file as bannerd does.
$(B)/bin/bannerctl: $(call obj,$(CTL_SRC))
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs inih 2>/dev/null)

# The bench's floor server and reference client (tests/floor_*.c) are
# plain C on purpose: no libevent, no common/.
.SECONDARY: $(call obj,$(FLOOR_SRC))
$(B)/bin/floor_%: $(B)/tests/floor_%.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

# Test-only LD_PRELOAD shims (fault injection): never sanitized, since they
# are loaded into a program rather than linked with it.
$(B)/tests/shims/%.so: tests/shims/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SHLIB   $@")
	$(Q)$(CC) -std=c11 $(WARNINGS) $(if $(filter 1,$(WERROR)),-Werror) -O2 -fPIC -shared -o $@ $< -ldl

# Each unit test links every module except the programs' main.o, so a test
# can exercise any pure function without a socket, and the one Check
# runner, check_main.o, which runs the suite the test file gives.
UNIT_MAIN   := $(B)/tests/unit/check_main.o
.SECONDARY: $(UNIT_MAIN)
$(B)/tests/unit/%: $(B)/tests/unit/%.o $(UNIT_MAIN) $(DAEMON_OBJ) $(WEB_OBJ) $(COMMON_OBJ) $(PROBE_LIB) $(SLOWDNS_LIB) $(RELAY_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(ALL_LDLIBS)

$(B)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

# The tests take promtool from PROMTOOL, else from PATH, else from .deps/.
# Under SANITIZE=thread, only the e2e files where threads meet (TSAN_TESTS:
# the worker pool, the resolver threads, reload and shutdown, the presets,
# the live page's ring that every worker writes, changes made through the
# control socket and the page while workers run)
# run, one run-tests call per pattern; every file runs even after a
# failure, and any ThreadSanitizer report fails its test (harness.py).
# MAKEFLAGS is emptied for them: the install test's own `make install`
# must build the plain tree, not inherit SANITIZE=thread and then hold a
# TSan-slowed bannerd to the lab's timing expectations.
TSAN_TESTS   = bannerd_pool bannerd_rdns bannerd_lifecycle bannerd_state presets _live. bannerctl
TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1
check:
	$(Q)scripts/install-deps --test
	$(Q)$(MAKE) --no-print-directory all
ifeq ($(SANITIZE),thread)
	$(Q)rc=0; for p in $(TSAN_TESTS); do \
	    MAKEFLAGS= MAKELEVEL= TSAN_OPTIONS="$(TSAN_OPTIONS)" BUILD=$(B) \
	    scripts/run-tests e2e $$p || rc=1; \
	done; exit $$rc
else
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN)
	$(Q)PROMTOOL="$${PROMTOOL:-$$(command -v promtool || echo $(CURDIR)/.deps/prometheus/usr/bin/promtool)}" \
	    BUILD=$(B) scripts/run-tests
endif

check-tsan:
	$(Q)$(MAKE) --no-print-directory check SANITIZE=thread

check-unit: all $(UNIT_BIN)
	$(Q)BUILD=$(B) scripts/run-tests unit

check-e2e: all
	$(Q)BUILD=$(B) scripts/run-tests e2e

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(B) scripts/demo

# The side-by-side benchmark (scripts/bench): a few minutes; BENCH_ONLY,
# BENCH_ROUNDS, BENCH_JSON and the other BENCH_ variables are read from
# the environment (see the README). Never fails on speed.
bench:
	$(Q)scripts/install-deps --bench
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(B) scripts/bench

# Durability torture of the Maildir sink (tests/torture/torture.py):
# TORTURE_CYCLES (100) SIGKILLs of bannerd at seeded random moments under 8
# senders, each followed by a restart on the same Maildir, then the
# byte-exact check of every message that got a 250; then fsync and rename
# failures injected through the LD_PRELOAD shims, each answered 451 with
# nothing left in new/ or tmp/. A few minutes; make check runs 10 cycles
# (tests/e2e/test_torture.py). TORTURE_SEED replays a run.
torture: all $(SHIMS)
	$(Q)python3 tests/torture/torture.py --build $(B) --cycles $(or $(TORTURE_CYCLES),100) \
	    $(if $(TORTURE_SEED),--seed $(TORTURE_SEED))

# libFuzzer on the command parser, the DATA machine, the config reader,
# PTR-name validation, ident replies, slowrelay's inspection and PROXY
# protocol headers; FUZZ_SECONDS each (default 30, .ci/run gives 40).
fuzz:
	$(Q)scripts/install-deps --fuzz
	$(Q)tests/fuzz/run $(or $(FUZZ_SECONDS),30)

lint-man:
	$(Q)mandoc -Tlint -W warning man/*.[0-9]

# The unit and the man pages are written for PREFIX=/usr/local; install
# rewrites the paths they name to the ones of this install.
INSTALL_SED = -e 's|/usr/local/sbin|$(BINDIR)|g' -e 's|/usr/local/bin|$(TOOLDIR)|g' \
              -e 's|/usr/local/etc|$(SYSCONFDIR)|g' -e 's|/usr/local/lib/systemd/system|$(UNITDIR)|g' \
              -e 's|/usr/local/share/man|$(MANPREFIX)|g' -e 's|/usr/local/share/bannerlab|$(LABDIR)|g'
TOOLS       = smtpprobe slowdns slowrelay
# The lab, under $(LABDIR) with the layout of the source tree, since
# scripts/lab runs from its own root (scripts/..., conf/presets/...).
# Globs, so that files added later are installed too.
LAB_EXEC    = scripts/lab scripts/demo
LAB_DATA    = scripts/lablib.sh scripts/labnet.sh scripts/labpostfix.sh scripts/labclass.sh $(shell find scripts/scenarios -maxdepth 1 -type f 2>/dev/null) \
              $(shell find scripts/labanalysis -name '*.py' 2>/dev/null) $(wildcard conf/presets/*.conf)

# The Prometheus scrape config and rules go together into one directory:
# prometheus.yml names bannerd-rules.yml relative to itself. The rules'
# tests come along, so promtool test rules runs on the installed copy.
PROM_CONF   = $(wildcard conf/prometheus/*.yml)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(TOOLDIR) $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man8 \
	    $(DESTDIR)$(SYSCONFDIR)/bannerd/presets $(DESTDIR)$(SYSCONFDIR)/bannerd/prometheus \
	    $(DESTDIR)$(UNITDIR)
	install -m 755 $(B)/bin/bannerd $(DESTDIR)$(BINDIR)/bannerd
	install -m 755 $(B)/bin/bannerctl $(DESTDIR)$(BINDIR)/bannerctl
	for p in $(TOOLS); do [ ! -x $(B)/bin/$$p ] || install -m 755 $(B)/bin/$$p $(DESTDIR)$(TOOLDIR)/$$p; done
	for m in man/*.[158]; do \
	    sed $(INSTALL_SED) $$m >$(DESTDIR)$(MANPREFIX)/man$${m##*.}/$${m#man/} && \
	    chmod 644 $(DESTDIR)$(MANPREFIX)/man$${m##*.}/$${m#man/} || exit 1; done
	install -m 644 conf/bannerd.conf $(DESTDIR)$(SYSCONFDIR)/bannerd/bannerd.conf.example
	install -m 644 conf/presets/*.conf $(DESTDIR)$(SYSCONFDIR)/bannerd/presets/
	install -m 644 $(PROM_CONF) $(DESTDIR)$(SYSCONFDIR)/bannerd/prometheus/
	sed $(INSTALL_SED) conf/bannerd.service >$(DESTDIR)$(UNITDIR)/bannerd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/bannerd.service
	for f in $(LAB_EXEC); do install -D -m 755 $$f $(DESTDIR)$(LABDIR)/$$f || exit 1; done
	for f in $(LAB_DATA); do install -D -m 644 $$f $(DESTDIR)$(LABDIR)/$$f || exit 1; done
	printf '%s\n' '#!/bin/sh' \
	    '# bannerlab-lab: the installed bannerlab lab, $(LABDIR)/scripts/lab.' \
	    '# Results go to ./results unless LAB_RESULTS says otherwise; the programs' \
	    '# are the installed ones, found on PATH.' \
	    'unset BUILD' \
	    'LAB_RESULTS="$${LAB_RESULTS:-$$PWD/results}"' \
	    'case $$LAB_RESULTS in /*) ;; *) LAB_RESULTS=$$PWD/$$LAB_RESULTS ;; esac' \
	    'export LAB_RESULTS' \
	    'PATH="$(BINDIR):$(TOOLDIR):$$PATH"' \
	    'export PATH' \
	    'exec "$(LABDIR)/scripts/lab" "$$@"' >$(DESTDIR)$(TOOLDIR)/bannerlab-lab
	chmod 755 $(DESTDIR)$(TOOLDIR)/bannerlab-lab

# Exactly what install put, with the same variables, and the __pycache__
# Python made of the installed analysis when the lab ran; then the
# directories made for bannerlab alone, if nothing else was put in them
# since (a bannerd.conf of your own stays, and so does its directory).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bannerd $(DESTDIR)$(BINDIR)/bannerctl $(DESTDIR)$(TOOLDIR)/bannerlab-lab
	for p in $(TOOLS); do rm -f $(DESTDIR)$(TOOLDIR)/$$p; done
	for m in man/*.[158]; do rm -f $(DESTDIR)$(MANPREFIX)/man$${m##*.}/$${m#man/}; done
	rm -f $(DESTDIR)$(SYSCONFDIR)/bannerd/bannerd.conf.example $(DESTDIR)$(UNITDIR)/bannerd.service
	for f in conf/presets/*.conf; do rm -f $(DESTDIR)$(SYSCONFDIR)/bannerd/presets/$${f#conf/presets/}; done
	for f in $(PROM_CONF); do rm -f $(DESTDIR)$(SYSCONFDIR)/bannerd/prometheus/$${f#conf/prometheus/}; done
	for f in $(LAB_EXEC) $(LAB_DATA); do rm -f $(DESTDIR)$(LABDIR)/$$f; done
	[ ! -d $(DESTDIR)$(LABDIR) ] || find $(DESTDIR)$(LABDIR) -depth -type d -name __pycache__ -exec rm -rf {} +
	[ ! -d $(DESTDIR)$(LABDIR) ] || find $(DESTDIR)$(LABDIR) -depth -type d -empty -delete
	rmdir $(DESTDIR)$(SYSCONFDIR)/bannerd/presets $(DESTDIR)$(SYSCONFDIR)/bannerd/prometheus \
	    $(DESTDIR)$(SYSCONFDIR)/bannerd 2>/dev/null || true

# clean removes what the build made; results/ is the lab's output, a
# user's work, and .deps/ what install-deps fetched: only distclean
# takes those too.
clean:
	rm -rf build build-san build-tsan

distclean: clean
	rm -rf results .deps

-include $(shell find build build-san build-tsan -name '*.d' 2>/dev/null)
