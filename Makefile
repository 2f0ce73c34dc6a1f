# pagoda build. `make` -> build/pagoda; `make test` -> all tests;
# `make debug` -> build-debug/pagoda with ASan+UBSan; `make debug-test` runs
# the tests in that build; `make fuzz-run` runs a bounded fuzz pass;
# `make install` (PREFIX=/usr/local, DESTDIR) installs build/pagoda and its
# man page, which is generated from the usage tables (`pagoda help --man`).
#
# Sources are discovered: every src/**/*.c except src/cli goes into
# libpagoda.a; files named *_avx2.c / *_avx512.c get their ISA flags (they
# are only called after run-time CPUID dispatch). tests/test_*.c are one
# binary each.

BUILD ?= build
CC ?= gcc
OPT ?= -O2
SAN ?=
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Wno-unused-parameter -Wshadow -Wvla \
              -fno-strict-aliasing -Isrc -I. -pthread $(SAN)
PKG_LIBS = -lpcre2-8 -lutf8proc -ljansson -lmicrohttpd
LDLIBS = $(PKG_LIBS) -lm -pthread
ARCH := $(shell uname -m)
VERSION = 0.1.0
# the commit is embedded when building from a git checkout ("unknown" from a tarball)
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY := $(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
VERSION_FLAGS = -DPG_VERSION='"$(VERSION)"' -DPG_GIT_COMMIT='"$(GIT_COMMIT)$(if $(filter unknown,$(GIT_COMMIT)),,$(GIT_DIRTY))"'
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man/man1

AVX2_FLAGS = -mavx2 -mfma -mf16c
AVX512_FLAGS = $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni

ALL_SRC := $(shell find src -name '*.c' | sort)
ifneq ($(ARCH),x86_64)
ALL_SRC := $(filter-out src/tensor/x86/%,$(ALL_SRC))
endif
CLI_SRC := $(filter src/cli/%,$(ALL_SRC))
LIB_SRC := $(filter-out src/cli/%,$(ALL_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# the web UI (webui/*) embedded as byte arrays (scripts/embed_webui.sh)
WEBUI_FILES := $(sort $(wildcard webui/*))
WEBUI_OBJ := $(BUILD)/obj/gen/webui_assets.o
# the list of files, rewritten only when it changes, so that removing a
# file regenerates the table too
WEBUI_LIST := $(BUILD)/gen/webui.list
LIB_OBJ += $(WEBUI_OBJ)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)

DEPS_STAMP := build/.deps-ok

.SECONDARY:
.PHONY: all test debug debug-test fuzz fuzz-run clean deps install uninstall FORCE
all: $(BUILD)/pagoda $(BUILD)/pagoda.1

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh
	@sh scripts/deps.sh
	@mkdir -p build && touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%_avx2.o: %_avx2.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

# usage.c carries the version and commit; its object is rebuilt when they change
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(VERSION_FLAGS)' | cmp -s - $@ || echo '$(VERSION_FLAGS)' > $@
$(BUILD)/obj/src/cli/usage.o: EXTRA_CFLAGS += $(VERSION_FLAGS)
$(BUILD)/obj/src/cli/usage.o: $(BUILD)/version.stamp

$(BUILD)/pagoda.1: $(BUILD)/pagoda
	$(BUILD)/pagoda help --man > $@.tmp && mv $@.tmp $@

install: $(BUILD)/pagoda $(BUILD)/pagoda.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	install -m 755 $(BUILD)/pagoda $(DESTDIR)$(BINDIR)/pagoda
	install -m 644 $(BUILD)/pagoda.1 $(DESTDIR)$(MANDIR)/pagoda.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pagoda $(DESTDIR)$(MANDIR)/pagoda.1

$(WEBUI_LIST): FORCE
	@mkdir -p $(dir $@)
	@echo '$(WEBUI_FILES)' | cmp -s - $@ || echo '$(WEBUI_FILES)' > $@
$(BUILD)/gen/webui_assets.c: scripts/embed_webui.sh $(WEBUI_FILES) $(WEBUI_LIST)
	@mkdir -p $(dir $@)
	sh scripts/embed_webui.sh $@ $(WEBUI_FILES)

$(WEBUI_OBJ): $(BUILD)/gen/webui_assets.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@

$(BUILD)/libpagoda.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pagoda: $(CLI_OBJ) $(BENCH_OBJ) $(BUILD)/libpagoda.a
	$(CC) $(CFLAGS_BASE) -o $@ $(CLI_OBJ) $(BENCH_OBJ) $(BUILD)/libpagoda.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libpagoda.a | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Itests -MMD -MP -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libpagoda.a $(LDLIBS)

test: $(BUILD)/pagoda $(TEST_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

debug:
	$(MAKE) BUILD=build-debug OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

debug-test:
	$(MAKE) BUILD=build-debug OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" PAGODA_SANITIZED=1 test

# libFuzzer harness for the GGUF reader (clang from Debian): the library is
# built by this Makefile in build-fuzz with clang and fuzzer instrumentation.
FUZZ_SAN = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 SAN="$(FUZZ_SAN)" build-fuzz/libpagoda.a
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -pthread -fsanitize=fuzzer,address,undefined \
	  -o build-fuzz/fuzz_gguf fuzz/fuzz_gguf.c build-fuzz/libpagoda.a $(LDLIBS)

FUZZ_SECONDS ?= 60
fuzz-run: fuzz
	sh scripts/fuzz_run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-debug build-fuzz

-include $(shell find $(BUILD) build-debug -name '*.d' 2>/dev/null)
