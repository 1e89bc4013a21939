# bannerlab: bannerd, smtpprobe, slowdns.
# Quiet by default; V=1 shows the commands. SANITIZE=1 builds with ASan+UBSan
# into a separate tree (build-san/) so a sanitizer run never mixes objects.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/sbin
TOOLDIR   ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(PREFIX)/etc
DESTDIR   ?=

CC      ?= cc
PKGS     = libevent_core libevent_extra libevent_pthreads libcares inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARNINGS = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARNINGS) -Icommon -Idaemon $(PKG_CFLAGS) -MMD -MP
LDLIBS  += $(PKG_LIBS) -lpthread -lm

ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifeq ($(SANITIZE),1)
B = build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
B = build
endif

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
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
FLOOR_SRC   := tests/floor_server.c

obj = $(patsubst %.c,$(B)/%.o,$(1))

COMMON_OBJ  := $(call obj,$(COMMON_SRC))
DAEMON_OBJ  := $(call obj,$(DAEMON_SRC))
PROBE_OBJ   := $(call obj,$(PROBE_SRC))
SLOWDNS_OBJ := $(call obj,$(SLOWDNS_SRC))
RELAY_OBJ   := $(call obj,$(RELAY_SRC))
PROBE_LIB   := $(filter-out $(B)/tools/smtpprobe/main.o,$(PROBE_OBJ))
SLOWDNS_LIB := $(filter-out $(B)/tools/slowdns/main.o,$(SLOWDNS_OBJ))
UNIT_BIN    := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))

PROGRAMS = $(B)/bin/bannerd $(if $(PROBE_SRC),$(B)/bin/smtpprobe) \
           $(if $(SLOWDNS_SRC),$(B)/bin/slowdns) $(if $(RELAY_SRC),$(B)/bin/slowrelay) \
           $(if $(wildcard $(FLOOR_SRC)),$(B)/bin/floor_server)

.PHONY: all deps check check-unit check-e2e demo bench fuzz install clean lint-man
all: deps-build $(PROGRAMS)

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
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(B)/bin/bannerd: $(B)/daemon/main.o $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/smtpprobe: $(PROBE_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/slowdns: $(SLOWDNS_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/slowrelay: $(RELAY_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/floor_server: $(call obj,$(FLOOR_SRC))
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# Each unit test links every module except the programs' main.o, so a test
# can exercise any pure function without a socket.
$(B)/tests/unit/%: $(B)/tests/unit/%.o $(DAEMON_OBJ) $(COMMON_OBJ) $(PROBE_LIB) $(SLOWDNS_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(B)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

# The tests take promtool from PROMTOOL, else from PATH, else from .deps/.
check:
	$(Q)scripts/install-deps --test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN)
	$(Q)PROMTOOL="$${PROMTOOL:-$$(command -v promtool || echo $(CURDIR)/.deps/prometheus/usr/bin/promtool)}" \
	    BUILD=$(B) scripts/run-tests

check-unit: all $(UNIT_BIN)
	$(Q)BUILD=$(B) scripts/run-tests unit

check-e2e: all
	$(Q)BUILD=$(B) scripts/run-tests e2e

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(B) scripts/demo

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(B) scripts/bench

# libFuzzer on the command parser, the DATA machine and the config reader;
# FUZZ_SECONDS each (default 30).
fuzz:
	$(Q)scripts/install-deps --fuzz
	$(Q)tests/fuzz/run $(or $(FUZZ_SECONDS),30)

lint-man:
	$(Q)mandoc -Tlint -W warning man/*.[0-9]

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(TOOLDIR) $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man8 \
	    $(DESTDIR)$(SYSCONFDIR)/bannerd/presets $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(B)/bin/bannerd $(DESTDIR)$(BINDIR)/bannerd
	for p in smtpprobe slowdns slowrelay; do [ ! -x $(B)/bin/$$p ] || install -m 755 $(B)/bin/$$p $(DESTDIR)$(TOOLDIR)/$$p; done
	for m in man/*.1; do [ ! -f $$m ] || install -m 644 $$m $(DESTDIR)$(MANPREFIX)/man1/; done
	install -m 644 man/bannerd.conf.5 $(DESTDIR)$(MANPREFIX)/man5/
	install -m 644 man/bannerd.8 $(DESTDIR)$(MANPREFIX)/man8/
	install -m 644 conf/bannerd.conf $(DESTDIR)$(SYSCONFDIR)/bannerd/bannerd.conf.example
	install -m 644 conf/presets/*.conf $(DESTDIR)$(SYSCONFDIR)/bannerd/presets/
	install -m 644 conf/bannerd.service $(DESTDIR)$(PREFIX)/lib/systemd/system/bannerd.service

clean:
	rm -rf build build-san results

-include $(shell find build build-san -name '*.d' 2>/dev/null)
