# fsd: storage reaper and file auditor.
#
# Each module directory is one static library; every .c file in it is part
# of the module, so adding a file needs no edit here. Link order follows
# the dependency rule: tools and fsd -> reaper -> catalog -> common.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

PKGS     = fuse3 sqlite3 libpq libxxhash inih libsystemd libmicrohttpd
CC      ?= gcc
CSTD     = -std=gnu17
WARN     = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-align \
           -Wwrite-strings -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wundef -Wvla -Wno-unused-parameter \
           -Wimplicit-fallthrough -Wnull-dereference
OPT     ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  += $(CSTD) $(WARN) $(OPT) -pthread -fno-strict-aliasing
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm

MODULES  = reaper catalog common
LIBS     = $(foreach m,$(MODULES),$(BUILD)/lib$(m).a)
src_of   = $(sort $(wildcard $(1)/*.c))
# Objects live under $(BUILD)/obj/ so that fsd/*.o never collides with the
# $(BUILD)/fsd program.
obj_of   = $(patsubst %.c,$(BUILD)/obj/%.o,$(call src_of,$(1)))

FSDCTL_OBJ = $(call obj_of,tools)
FSD_OBJ    = $(call obj_of,fsd)
GEN_OBJ    = $(call obj_of,tests/gen)
UNIT_SRC   = $(sort $(wildcard tests/unit/test-*.c))
UNIT_BIN   = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
HELPER_SRC = $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN = $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRC))
BENCH_SRC  = $(sort $(wildcard bench/*.c))
BENCH_BIN  = $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

PROGS = $(BUILD)/fsdctl $(BUILD)/fsd $(BUILD)/fsd-mkdemo

.PHONY: all deps check-deps bench-deps check asan demo bench install clean format

all: deps $(PROGS)

deps:
	@scripts/install-deps.sh build
check-deps:
	@scripts/install-deps.sh check
bench-deps:
	@scripts/install-deps.sh bench

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

define module_lib
$(BUILD)/lib$(1).a: $(call obj_of,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_lib,$(m))))

$(BUILD)/fsdctl: $(FSDCTL_OBJ) $(LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(FSDCTL_OBJ) $(LIBS) $(LDLIBS)

$(BUILD)/fsd: $(FSD_OBJ) $(LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(FSD_OBJ) $(LIBS) $(LDLIBS)

$(BUILD)/fsd-mkdemo: $(GEN_OBJ) $(LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(GEN_OBJ) $(LIBS) $(LDLIBS)

$(BUILD)/tests/test-%: tests/unit/test-%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBS) $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/helpers/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# The suite: unit tests (cmocka, TAP output) and end-to-end shell tests
# that drive the real binaries. tests/run.sh prints "N passed, N failed".
check: check-deps
	$(MAKE) --no-print-directory $(PROGS) $(UNIT_BIN) $(HELPER_BIN)
	BUILD=$(BUILD) tests/run.sh

asan: check-deps
	$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" check

demo: all
	BUILD=$(BUILD) scripts/demo.sh

bench: bench-deps
	$(MAKE) --no-print-directory $(PROGS) $(BENCH_BIN)
	BUILD=$(BUILD) bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(BUILD)/fsdctl $(DESTDIR)$(PREFIX)/bin/fsdctl
	install -m 0755 $(BUILD)/fsd $(DESTDIR)$(PREFIX)/sbin/fsd
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 docs/fsdctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/fsd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/fsd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	# The unit names the installed daemon's path.
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|/usr/local/sbin/fsd|$(PREFIX)/sbin/fsd|' docs/fsd.service >$(DESTDIR)$(SYSTEMDUNITDIR)/fsd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/fsd.service

clean:
	rm -rf build build-asan demo

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
