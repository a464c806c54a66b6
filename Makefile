# portbroker — build, test, run.  `make` leaves the daemon at build/portbroker.
# Variants build out of tree under build/<variant>/: `make SAN=asan` → build/asan/.

SAN     ?=
VARIANT := $(if $(SAN),$(SAN),release)
B       := build/$(VARIANT)
PKGS    := libevent libevent_pthreads rdkafka avro-c jansson libzstd libcrypto libssl libevent_openssl zlib
CC      ?= cc

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wvla -Wundef -Wcast-align -Wwrite-strings -Werror=implicit-function-declaration
ifeq ($(CI),true)
WARN += -Werror
endif

OPT := -O2 -g
SANFLAGS :=
ifeq ($(SAN),asan)
OPT := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif

# pkg-config is read when this Makefile is parsed. On a new machine the -dev packages are not there
# yet at that moment, so `run`, `test`, `bench` and `fuzz` first install them (deploy/install-deps.sh)
# and then build in a second make that parses this file again with the packages in place.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SUBMAKE    := $(MAKE) --no-print-directory
CPPFLAGS   += -iquote broker -iquote broker/avro -Iinclude -DPB_VERSION='"$(shell cat VERSION 2>/dev/null || echo 0.0.0)"'
CPPFLAGS   += -DPB_AVRO_VERSION='"$(shell pkg-config --modversion avro-c 2>/dev/null || echo unknown)"'
CFLAGS     += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS     += $(PKG_LIBS) -lpthread -lm
LDFLAGS    += $(SANFLAGS)

BROKER_SRCS := $(wildcard broker/*.c)
# broker/avro/: schema, compat, codec, the JSON token reader and the buf/err they need, built as a
# static library (libpbavro.a) that the daemon, the tests and connectors/ link; it includes nothing
# outside broker/avro/ (make lint).
AVRO_SRCS   := $(wildcard broker/avro/*.c)
AVRO_OBJS   := $(AVRO_SRCS:%.c=$(B)/%.o)
AVRO_LIB    := $(B)/libpbavro.a
# client/: the HTTP client of include/portbroker/client.h (libpbclient.a), for the CLI's publish and
# consume and for connectors/, which link it and libpbavro.a, not the daemon.
CLIENT_SRCS := $(wildcard client/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(B)/%.o)
CLIENT_LIB  := $(B)/libpbclient.a
CONN_LIBS   := $(shell pkg-config --libs jansson libssl libcrypto libzstd 2>/dev/null) -lz -lm
# Generated sources (build/gen/, shared by every variant) compile with the broker's objects.
GEN_SRCS    := build/gen/assets.c
BROKER_OBJS := $(BROKER_SRCS:%.c=$(B)/%.o) $(GEN_SRCS:%.c=$(B)/%.o)
LIB_OBJS    := $(filter-out $(B)/broker/main.o,$(BROKER_OBJS)) $(CLIENT_LIB) $(AVRO_LIB)
UNIT_SRCS   := $(wildcard tests/unit/*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
CONN_SRCS   := $(wildcard connectors/*.c)
CONN_BINS   := $(CONN_SRCS:connectors/%.c=$(B)/connectors/%)

# Install layout (FHS). DESTDIR is prepended at copy time only; every path compiled into the
# installed binary or written into the unit is the final one.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share/portbroker
DOCDIR     ?= $(PREFIX)/share/doc/portbroker
MANDIR     ?= $(PREFIX)/share/man
# /etc for the system prefix (/usr), else under the prefix (/usr/local/etc, /opt/x/etc).
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# The installed binary is the build's objects with paths.c compiled for DATADIR (broker/paths.h),
# linked apart so the build tree's binary keeps its repository-relative defaults.
IB         := $(B)/install$(DATADIR)

.PHONY: all deps test-deps run test test-run unit integration bench bench-run fuzz fuzz-run \
        fuzz-short install format format-check lint docs docs-check clean valgrind pkgcheck
.DEFAULT_GOAL := all
# Keep the fuzzers' objects (make would delete them as intermediate files).
.SECONDARY:

all: $(B)/portbroker $(CONN_BINS)
ifeq ($(VARIANT),release)
	@ln -sfn release/portbroker build/portbroker
endif

deps:
	@deploy/install-deps.sh

test-deps:
	@deploy/install-deps.sh --test

# A build without the -dev packages says what to run instead of failing at the first link.
pkgcheck:
	@pkg-config --exists $(PKGS) 2>/dev/null || { echo "portbroker: the build libraries are missing" \
	  "(pkg-config cannot find: $(PKGS)); run 'make deps' (or 'make run' / 'make test', which install them)" >&2; exit 2; }

$(BROKER_OBJS) $(AVRO_OBJS) $(CLIENT_OBJS): | pkgcheck

$(CLIENT_LIB): $(CLIENT_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(AVRO_LIB): $(AVRO_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/portbroker: $(BROKER_OBJS) $(CLIENT_LIB) $(AVRO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/tests/unit/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcmocka

$(B)/bench/%: bench/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

$(B)/connectors/%: connectors/%.c $(CLIENT_LIB) $(AVRO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CLIENT_LIB) $(AVRO_LIB) $(CONN_LIBS)

# pb-sink-postgres alone needs libpq.
$(B)/connectors/pb-sink-postgres: CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)
$(B)/connectors/pb-sink-postgres: CONN_LIBS += $(shell pkg-config --libs libpq 2>/dev/null)

# Fuzzers: clang + libFuzzer + ASan/UBSan, always their own variant (build/fuzz). The broker's
# objects are compiled once with coverage instrumentation and linked into every target.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(PKG_CFLAGS)
FUZZ_SAN    := -fsanitize=address,undefined
FUZZ_OBJS   := $(filter-out build/fuzz/obj/broker/main.o,$(BROKER_SRCS:%.c=build/fuzz/obj/%.o)) \
               $(AVRO_SRCS:%.c=build/fuzz/obj/%.o) $(CLIENT_SRCS:%.c=build/fuzz/obj/%.o) \
               $(GEN_SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS) -lpthread -lm

# The dashboard page, its script and style, embedded in the binary (broker/assets.h): edit the
# files under broker/, `make` regenerates the C. od (coreutils, always installed) prints the bytes, sed makes them a C
# initializer.
ASSETS := broker/dashboard.html broker/dashboard.js broker/dashboard.css broker/dashboard.svg \
          docs/openapi.json
build/gen/assets.c: $(ASSETS) Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* Generated by the Makefile from $(ASSETS); do not edit. */'; \
	   echo '#include "assets.h"'; \
	   for f in $(ASSETS); do n=$$(basename $$f | tr '.-' '__'); \
	     echo "const unsigned char pb_asset_$${n}[] = {"; od -An -v -tx1 < $$f | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; \
	     echo "const size_t pb_asset_$${n}_len = sizeof pb_asset_$${n} - 1;"; done; } > $@.tmp
	@mv $@.tmp $@

# The broker writes build/run.env once it listens: `. build/run.env` gives a shell PORTBROKER_URL,
# PORTBROKER_PID and BROKERS (the embedded Kafka cluster's bootstrap) for the README's commands.
run: deps
	@$(SUBMAKE) all
	@echo "make run: serving the example mesh on http://127.0.0.1:8080; in another shell: . build/run.env"
	build/portbroker serve -c deploy/example.conf --env-file build/run.env

unit: all $(UNIT_BINS)
# The release run also builds the fuzzers for a short run of each (tests/checks/fuzz-short.t).
test: test-deps
	@$(SUBMAKE) test-run
test-run: all $(UNIT_BINS) $(CONN_BINS) $(if $(SAN),,$(FUZZ_BINS))
	@B=$(B) SAN=$(SAN) tests/run.sh

fuzz: test-deps
	@$(SUBMAKE) fuzz-run
fuzz-run: $(FUZZ_BINS)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-600} tests/fuzz/run.sh $(FUZZ_BINS)

bench: test-deps
	@$(SUBMAKE) bench-run
bench-run: all $(BENCH_BINS)
	@B=$(B) bench/run.sh

docs: all
	$(B)/portbroker config-doc > docs/CONFIGURATION.md

docs-check: all
	@$(B)/portbroker config-doc | diff -u docs/CONFIGURATION.md - \
	  || { echo "docs/CONFIGURATION.md is stale: run 'make docs'"; exit 1; }

$(IB)/paths.o: broker/paths.c broker/paths.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DPB_DATADIR='"$(DATADIR)"' -c -o $@ $<
$(IB)/portbroker: $(filter-out $(B)/broker/paths.o,$(BROKER_OBJS)) $(IB)/paths.o $(CLIENT_LIB) $(AVRO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The man page comes from the installed binary's own usage text and settings table.
$(IB)/portbroker.1: $(IB)/portbroker
	$< man > $@.tmp && mv $@.tmp $@

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its man page, the example products,
# the deploy files, the docs, a systemd unit and (if none is there yet) a config file.
DEPLOY_DIRS := $(wildcard deploy/prometheus deploy/grafana deploy/systemd deploy/container deploy/kubernetes)
install: all $(IB)/portbroker $(IB)/portbroker.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/portbroker $(DESTDIR)$(UNITDIR)
	install -m 0755 $(IB)/portbroker $(DESTDIR)$(BINDIR)/portbroker
	install -m 0644 $(IB)/portbroker.1 $(DESTDIR)$(MANDIR)/man1/portbroker.1
	rm -rf $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DATADIR)/deploy
	cp -R schemas/examples $(DESTDIR)$(DATADIR)/examples
	install -d $(DESTDIR)$(DATADIR)/deploy
	cp -R $(DEPLOY_DIRS) $(DESTDIR)$(DATADIR)/deploy/
	install -m 0644 deploy/example.conf deploy/portbroker.conf $(DESTDIR)$(DATADIR)/deploy/
	install -m 0644 $(wildcard docs/CONFIGURATION.md docs/OPERATIONS.md docs/openapi.json) $(DESTDIR)$(DOCDIR)/
	sed -e 's|/usr/bin/portbroker|$(BINDIR)/portbroker|g' -e 's|/etc/portbroker|$(SYSCONFDIR)/portbroker|g' \
	  deploy/systemd/portbroker.service > $(DESTDIR)$(UNITDIR)/portbroker.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/portbroker.service
	@# An operator's config is never overwritten; the shipped one stays in $(DATADIR)/deploy.
	[ -e $(DESTDIR)$(SYSCONFDIR)/portbroker/portbroker.conf ] || \
	  install -m 0644 deploy/portbroker.conf $(DESTDIR)$(SYSCONFDIR)/portbroker/portbroker.conf
	@echo "installed portbroker in $(DESTDIR)$(BINDIR); examples in $(DATADIR)/examples;" \
	  "config $(SYSCONFDIR)/portbroker/portbroker.conf; unit $(UNITDIR)/portbroker.service"

format:
	clang-format -i broker/*.[ch] broker/avro/*.[ch] client/*.c include/portbroker/*.h tests/unit/*.[ch] bench/*.c connectors/*.c tests/fuzz/*.c 2>/dev/null || true

format-check:
	clang-format --dry-run --Werror broker/*.[ch] broker/avro/*.[ch] client/*.c include/portbroker/*.h

lint:
	@tests/lint.sh

valgrind: all $(UNIT_BINS)
	@for t in $(UNIT_BINS); do valgrind -q --error-exitcode=1 --leak-check=full $$t >/dev/null || exit 1; done

clean:
	rm -rf build

-include $(BROKER_OBJS:.o=.d) $(AVRO_OBJS:.o=.d) $(CLIENT_OBJS:.o=.d) $(UNIT_BINS:=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
