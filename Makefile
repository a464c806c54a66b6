# portbroker — build, test, run.  `make` leaves the daemon at build/portbroker.
# Variants build out of tree under build/<variant>/: `make SAN=asan` → build/asan/.

SAN     ?=
VARIANT := $(if $(SAN),$(SAN),release)
B       := build/$(VARIANT)
PKGS    := libevent libevent_pthreads rdkafka avro-c jansson libzstd
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

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS   += -Ibroker -Iinclude -DPB_VERSION='"$(shell cat VERSION 2>/dev/null || echo 0.0.0)"'
CFLAGS     += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS     += $(PKG_LIBS) -lpthread -lm
LDFLAGS    += $(SANFLAGS)

BROKER_SRCS := $(wildcard broker/*.c)
BROKER_OBJS := $(BROKER_SRCS:%.c=$(B)/%.o)
LIB_OBJS    := $(filter-out $(B)/broker/main.o,$(BROKER_OBJS))
UNIT_SRCS   := $(wildcard tests/unit/*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
CONN_SRCS   := $(wildcard connectors/*.c)
CONN_BINS   := $(CONN_SRCS:connectors/%.c=$(B)/connectors/%)

PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: all deps test-deps run test unit integration bench fuzz fuzz-short install format \
        format-check lint docs docs-check clean valgrind
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

$(B)/portbroker: $(BROKER_OBJS)
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

$(B)/connectors/%: connectors/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

# Fuzzers: clang + libFuzzer + ASan/UBSan, always their own variant (build/fuzz). The broker's
# objects are compiled once with coverage instrumentation and linked into every target.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(PKG_CFLAGS)
FUZZ_SAN    := -fsanitize=address,undefined
FUZZ_OBJS   := $(filter-out build/fuzz/obj/broker/main.o,$(BROKER_SRCS:%.c=build/fuzz/obj/%.o))
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS) -lpthread -lm

run: deps all
	build/portbroker serve -c deploy/example.conf

unit: all $(UNIT_BINS)
# The release run also builds the fuzzers for a short run of each (tests/checks/fuzz-short.t).
test: test-deps all $(UNIT_BINS) $(CONN_BINS) $(if $(SAN),,$(FUZZ_BINS))
	@B=$(B) SAN=$(SAN) tests/run.sh

fuzz: test-deps $(FUZZ_BINS)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-600} tests/fuzz/run.sh $(FUZZ_BINS)

bench: test-deps all $(BENCH_BINS)
	@B=$(B) bench/run.sh

docs: all
	$(B)/portbroker config-doc > docs/CONFIGURATION.md

docs-check: all
	@$(B)/portbroker config-doc | diff -u docs/CONFIGURATION.md - \
	  || { echo "docs/CONFIGURATION.md is stale: run 'make docs'"; exit 1; }

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/portbroker
	install -m 0755 $(B)/portbroker $(DESTDIR)$(PREFIX)/bin/portbroker
	cp -r schemas deploy $(DESTDIR)$(PREFIX)/share/portbroker/

format:
	clang-format -i broker/*.[ch] include/portbroker/*.h tests/unit/*.[ch] bench/*.c connectors/*.c tests/fuzz/*.c 2>/dev/null || true

format-check:
	clang-format --dry-run --Werror broker/*.[ch] include/portbroker/*.h

lint:
	@tests/lint.sh

valgrind: all $(UNIT_BINS)
	@for t in $(UNIT_BINS); do valgrind -q --error-exitcode=1 --leak-check=full $$t >/dev/null || exit 1; done

clean:
	rm -rf build

-include $(BROKER_OBJS:.o=.d) $(UNIT_BINS:=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
