# cell — one non-recursive GNU Makefile; everything generated goes under $(BUILD).
#
#   make            build the cell command and libcell into build/
#   make deps       install the Debian packages the build, tests and demo need (apt-get)
#   make test       deps + build + every test, then every test again under ASan+UBSan
#   make demo       deps + build, then run cell on examples/demo (offline)
#   make lint       cppcheck + clang-format --dry-run
#   make install    PREFIX=/usr/local DESTDIR= SETUID=1 (cell-session setuid root: BPF mode
#                   for every user) PAMDIR=$(PREFIX)/lib/security
#   make uninstall  the same variables: removes what make install put there
#   V=1             show the commands; SANITIZE=1 builds with ASan+UBSan

VERSION := 0.1.0
BUILD ?= build
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/cell
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# pam_cell.so: under the prefix like the rest (a PAM stack then names it by its path); the
# system's PAM directory only when asked: PAMDIR=$(pkg-config --variable=libdir pam)/security
PAMDIR ?= $(PREFIX)/lib/security
DESTDIR ?=
PKG_CONFIG ?= pkg-config
SANITIZE ?= 0

ifeq ($(V),1)
Q :=
else
Q := @
endif

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:

# Debian packages: build, tests, demo, lint. `make deps` installs the missing ones.
DEB_PKGS := build-essential pkg-config clang llvm libbpf-dev bpftool libcjson-dev nettle-dev \
	bubblewrap libcriterion-dev libseccomp-dev libpam0g-dev cppcheck clang-format libclang-rt-14-dev \
	curl python3 tmux zsh fish hyperfine iproute2 util-linux procps git tinyproxy openssl \
	libelf-dev zlib1g-dev wget nodejs perl direnv strace nix-bin libyaml-dev postgresql-15 \
	libssl-dev prometheus chromium-headless-shell publicsuffix scdoc man-db debhelper lintian

LIB_PKGS := libcjson nettle libseccomp yaml-0.1 openssl
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(LIB_PKGS))
# nettle, libseccomp, libyaml and OpenSSL are linked in (Debian ships their archives): every
# cell start pays for each shared library the dynamic loader maps, and the first two are a fifth
# of cell's own cost (libyaml is cell import's alone, OpenSSL the proxy's: nothing to map at
# every start for them)
# (LINK_STATIC=0: the shared libraries, as a distribution's package must use them)
LINK_STATIC ?= 1
ifeq ($(LINK_STATIC),1)
STATIC_ON := -Wl,-Bstatic
STATIC_OFF := -Wl,-Bdynamic
endif
PKG_LIBS = -pthread $(STATIC_ON) $(shell $(PKG_CONFIG) --libs nettle libseccomp yaml-0.1 openssl zlib) \
	$(STATIC_OFF) $(shell $(PKG_CONFIG) --libs libcjson) $(BPF_LIBS)
# libbpf (and what it needs) linked in as well, for the same reason
BPF_LIBS = $(STATIC_ON) $(shell $(PKG_CONFIG) --libs $(if $(STATIC_ON),--static) libbpf) $(STATIC_OFF)
TEST_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion)
TEST_LIBS = $(shell $(PKG_CONFIG) --libs criterion)

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wno-format-nonliteral -Wundef -Wvla -Wpointer-arith -Werror
# hardened as a distribution builds (Debian's hardening=+all): PIE, stack protector and clash
# protection, _FORTIFY_SOURCE=3, full RELRO with immediate binding
HARDENING := -fstack-protector-strong -fstack-clash-protection -D_FORTIFY_SOURCE=3
ALL_CFLAGS = -std=gnu17 $(WARNINGS) $(CFLAGS) -fno-strict-aliasing -fPIE $(HARDENING)
ALL_CPPFLAGS = -iquote module/lib -iquote bpf -iquote $(BUILD)/bpf -iquote $(BUILD)/gen -D_GNU_SOURCE -DCELL_VERSION='"$(VERSION)"' \
	-DCELL_LIBEXECDIR='"$(LIBEXECDIR)"' -DCELL_BINDIR='"$(BINDIR)"' $(PKG_CFLAGS) $(CPPFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,now -Wl,-z,relro $(LDFLAGS)
ifeq ($(SANITIZE),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	-U_FORTIFY_SOURCE
ALL_LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(sort $(wildcard module/lib/*.c))
CLI_SRC := $(filter-out module/cli/cell-init.c module/cli/cell-session.c module/cli/cell-proxy.c,\
	$(sort $(wildcard module/cli/*.c)))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
INTEG_SRC := $(sort $(wildcard tests/integration/*.c))
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
INTEG_OBJ := $(INTEG_SRC:%.c=$(BUILD)/%.o)
HELPER_OBJ := $(HELPER_SRC:%.c=$(BUILD)/%.o)

LIBCELL := $(BUILD)/libcell.a
CELL := $(BUILD)/cell
CELL_INIT := $(BUILD)/cell-init
CELL_SESSION := $(BUILD)/cell-session
CELL_PROXY := $(BUILD)/cell-proxy
SHIM := $(BUILD)/libcellshim.so
PAM_MODULE := $(BUILD)/pam_cell.so
UNIT := $(BUILD)/test-unit
INTEG := $(BUILD)/test-integration

.PHONY: all
MAN_PAGES := $(BUILD)/man/cell.1 $(BUILD)/man/cell.json.5 $(BUILD)/man/pam_cell.8

all: $(CELL) $(CELL_INIT) $(CELL_SESSION) $(CELL_PROXY) $(SHIM) $(PAM_MODULE) $(MAN_PAGES)

# Man pages, from scdoc sources in docs/man/: cell(1)'s COMMANDS section is what `cell help --man`
# prints from the command table `cell help` reads (the two say the same).
.PHONY: man
man: $(MAN_PAGES)
$(BUILD)/man/cell.1: docs/man/cell.1.scd $(CELL)
	@mkdir -p $(@D)
	$(Q)$(CELL) help --man > $@.commands
	$(Q)awk -v f=$@.commands '/^@COMMANDS@$$/ { while ((getline l < f) > 0) print l; next } \
		{ print }' $< | scdoc > $@.tmp && mv $@.tmp $@ && rm -f $@.commands
$(BUILD)/man/%.5: docs/man/%.5.scd
	@mkdir -p $(@D)
	$(Q)scdoc < $< > $@.tmp && mv $@.tmp $@
$(BUILD)/man/%.8: docs/man/%.8.scd
	@mkdir -p $(@D)
	$(Q)scdoc < $< > $@.tmp && mv $@.tmp $@

# BPF, as libbpf-bootstrap builds it: vmlinux.h from the running kernel's BTF, the object, a
# linked object, then the skeleton that module/lib/bpf.c (its only user) includes.
# (Debian puts it in /usr/sbin, which is not on an ordinary user's PATH)
BPFTOOL ?= $(or $(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
BPF_DIR := $(BUILD)/bpf
BPF_SKEL := $(BPF_DIR)/cell.skel.h
BTF ?= /sys/kernel/btf/vmlinux

$(BPF_DIR)/vmlinux.h:
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)test -r $(BTF) || { echo "no BTF at $(BTF): this kernel cannot build cell's BPF" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(BTF) format c > $@

$(BPF_DIR)/cell.bpf.o: bpf/cell.bpf.c bpf/cell.h $(BPF_DIR)/vmlinux.h
	@$(if $(Q),echo "  BPF     $<")
	$(Q)clang -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
		-I$(BPF_DIR) -Ibpf -c $< -o $@

$(BPF_SKEL): $(BPF_DIR)/cell.bpf.o
	@$(if $(Q),echo "  GEN     $@")
	$(Q)$(BPFTOOL) gen object $(BPF_DIR)/cell.o $<
	$(Q)$(BPFTOOL) gen skeleton $(BPF_DIR)/cell.o name cell_bpf > $@

$(BUILD)/module/lib/bpf.o: $(BPF_SKEL)

# The shell hooks (shell/cell.*; cell.sh is what bash and zsh share), as C strings for cell hook.
HOOK_SCRIPTS := shell/cell.bash shell/cell.zsh shell/cell.fish shell/cell.sh
$(BUILD)/gen/hook-scripts.h: $(HOOK_SCRIPTS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)for f in $^; do \
		printf 'static const char cell_hook_%s[] =\n' "$${f##*.}"; \
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/^/\t"/' -e 's/$$/\\n"/' "$$f"; \
		printf ';\n'; \
	done > $@.tmp && mv $@.tmp $@

$(BUILD)/module/cli/cmd-hook.o: $(BUILD)/gen/hook-scripts.h

$(BUILD)/module/%.o: module/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The cell-session the tests install setuid root: never a sanitizer build (the sanitizer runtime
# reads ASAN_OPTIONS and the like before main(): log_path= or external_symbolizer_path= would
# give any local user root's powers). A sanitized build takes the plain one from PLAIN_BUILD.
ifeq ($(SANITIZE),1)
PLAIN_BUILD ?= $(BUILD)/plain
SETUID_HELPER := $(PLAIN_BUILD)/cell-session
.PHONY: $(SETUID_HELPER)
$(SETUID_HELPER):
	$(Q)$(MAKE) --no-print-directory BUILD=$(PLAIN_BUILD) SANITIZE=0 $@
else
SETUID_HELPER := $(CELL_SESSION)
endif

# Tests know where the build tree and the fixtures are without being told at run time.
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CPPFLAGS) -iquote tests/helpers $(TEST_CFLAGS) $(ALL_CFLAGS) \
		-DCELL_TEST_BUILD='"$(abspath $(BUILD))"' -DCELL_TEST_SRC='"$(CURDIR)"' \
		-DCELL_TEST_SETUID_HELPER='"$(abspath $(SETUID_HELPER))"' -MMD -MP -c -o $@ $<

$(LIBCELL): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(CELL): $(CLI_OBJ) $(LIBCELL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The proxy (cell proxy execs it; cells and logins start it): the only program with OpenSSL (TLS
# for inspected hosts), whose start-up (its relocations) no other cell command pays for.
$(CELL_PROXY): $(BUILD)/module/cli/cell-proxy.o $(BUILD)/module/cli/common.o $(LIBCELL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# PID 1 of every cell: libc only (and libcell's join.c and what it uses, themselves libc only),
# so it runs from any cell's /usr.
$(CELL_INIT): $(BUILD)/module/cli/cell-init.o $(BUILD)/module/lib/join.o \
	$(BUILD)/module/lib/fileio.o $(BUILD)/module/lib/path.o $(BUILD)/module/lib/process.o \
	$(BUILD)/module/lib/netns.o $(BUILD)/module/lib/fdpass.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^

# The privileged helper: libcell's session and BPF parts, and libc.
$(CELL_SESSION): $(BUILD)/module/cli/cell-session.o $(LIBCELL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(BPF_LIBS)

# The LD_PRELOAD shim, loaded into every process of a proxy-mode cell: position-independent,
# only its hooks exported, never built with the sanitizers (it goes into programs that are not).
SHIM_SRC := $(sort $(wildcard shim/*.c)) module/lib/shimproto.c module/lib/fakeaddr.c
SHIM_OBJ := $(SHIM_SRC:%.c=$(BUILD)/shim-obj/%.o)
SHIM_CFLAGS = -std=gnu17 $(WARNINGS) $(CFLAGS) -fPIC -fvisibility=hidden -fno-strict-aliasing \
	$(HARDENING)
$(BUILD)/shim-obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (shim)")
	$(Q)$(CC) -iquote module/lib -iquote shim -D_GNU_SOURCE $(SHIM_CFLAGS) -MMD -MP -c -o $@ $<
$(SHIM): $(SHIM_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SHIM_CFLAGS) -shared -Wl,-z,defs -Wl,-z,now -Wl,-z,relro -o $@ $^

# The PAM session module: libcell's objects again, position-independent, with the shared
# libraries (it is loaded into sshd, su, login); never built with the sanitizers (its hosts
# are not); only the two PAM entry points exported.
PAM_CFLAGS = -std=gnu17 $(WARNINGS) $(CFLAGS) -fPIC -fno-strict-aliasing $(HARDENING)
# (not the devenv importer nor the proxy: libyaml and OpenSSL have no business in sshd)
PAM_NOT := devenvimport proxy tls tlspump
PAM_OBJ := $(filter-out $(PAM_NOT:%=$(BUILD)/pic/module/lib/%.o),$(LIB_SRC:%.c=$(BUILD)/pic/%.o)) \
	$(BUILD)/pic/module/pam/pam_cell.o
$(BUILD)/pic/module/lib/bpf.o: $(BPF_SKEL)
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (pic)")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(PAM_CFLAGS) -MMD -MP -c -o $@ $<
$(PAM_MODULE): $(PAM_OBJ) module/pam/pam_cell.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(PAM_CFLAGS) -shared -Wl,-z,defs -Wl,-z,now -Wl,-z,relro \
		-Wl,--version-script=module/pam/pam_cell.map -o $@ $(PAM_OBJ) -lpam -pthread \
		$(shell $(PKG_CONFIG) --libs nettle libseccomp libcjson libbpf zlib)

# The PAM tests' driver: a real Linux-PAM stack (pam_start, open_session, a command in the
# session, close_session).
PAM_DRIVER := $(BUILD)/test-pam-driver
$(PAM_DRIVER): tests/pam/pam-driver.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=gnu17 $(WARNINGS) $(CFLAGS) -D_GNU_SOURCE -o $@ $< -lpam

# The escape suite's probe, run inside cells: libc only.
PROBE := $(BUILD)/test-probe
$(PROBE): $(BUILD)/tests/probe/probe.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^

$(UNIT): $(UNIT_OBJ) $(HELPER_OBJ) $(LIBCELL)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(INTEG): $(INTEG_OBJ) $(HELPER_OBJ) $(LIBCELL)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

.PHONY: tests
tests: $(CELL) $(CELL_INIT) $(CELL_SESSION) $(CELL_PROXY) $(SETUID_HELPER) $(SHIM) $(PAM_MODULE) $(PAM_DRIVER) $(MAN_PAGES) \
	$(PROBE) $(UNIT) $(INTEG)

# Installs only what is missing, so a machine that has everything pays one dpkg-query.
.PHONY: deps
deps:
	$(Q)missing=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || \
			missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null || exit 1; \
	fi

# The test suites: Criterion prints a synthesis line per binary; any failure fails make.
# A leak found in a Criterion worker only prints a report, so sanitized runs also fail on any
# sanitizer report in the output (tests/sanitizer-check.py: all but a leak made by Criterion's
# own watchdog thread, with no frame of ours on its stack).
ifeq ($(SANITIZE),1)
# (a leak report does not change a process's exit status here: the check decides about those)
run_suite = LSAN_OPTIONS=exitcode=0 $(1) --short-filename 2>&1 | tee $(1).log && \
	python3 tests/sanitizer-check.py $(1).log || \
	{ echo "$(1): sanitizer reports above" >&2; exit 1; }
else
run_suite = $(1) --short-filename 2>&1 | tee $(1).log
endif

# The escape suite runs its cells as an unprivileged user; as root (CI) that is "celltest".
TEST_USER := celltest

.PHONY: test-user
test-user:
	$(Q)if [ "$$(id -u)" -eq 0 ] && ! id $(TEST_USER) >/dev/null 2>&1; then \
		useradd --create-home --shell /bin/bash $(TEST_USER); fi

.PHONY: check
check: tests test-user
	$(Q)$(call run_suite,$(UNIT))
	$(Q)$(call run_suite,$(INTEG))

.PHONY: test-asan
test-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SANITIZE=1 PLAIN_BUILD=$(BUILD) check

.PHONY: test
test: deps
	$(Q)mkdir -p $(BUILD) && touch $(BUILD)/.test-start
	$(Q)$(MAKE) --no-print-directory check
	$(Q)$(MAKE) --no-print-directory test-asan
	$(Q)python3 tests/summary.py --since $(BUILD)/.test-start $(UNIT).log $(INTEG).log \
		$(BUILD)/asan/test-unit.log $(BUILD)/asan/test-integration.log

# libFuzzer targets (clang), each run for FUZZ_SECONDS from the seed corpus in tests/fuzz/corpus;
# new inputs it finds go to $(BUILD)/fuzz/corpus-*, a crash to $(BUILD)/fuzz/crash-*.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := http config dotenv devenvimport netrules
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz-%)

# (the BPF loader, and the session, login-cell, project-session, cell-registry and host-probe
# modules that use it, and the proxy cells that use those,
# are left out: a fuzzer needs no kernel programs)
FUZZ_SKIP := module/lib/bpf.c module/lib/session.c module/lib/running.c module/lib/syscell.c \
	module/lib/network-bpf.c module/lib/network-login.c module/lib/instance.c \
	module/lib/keeper.c module/lib/member.c module/lib/procs.c module/lib/host.c \
	module/lib/network-proxy.c module/lib/network-netns.c
$(BUILD)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(filter-out $(FUZZ_SKIP),$(LIB_SRC)) \
		$(wildcard module/lib/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-iquote module/lib -iquote bpf -D_GNU_SOURCE -DCELL_VERSION='"fuzz"' $(PKG_CFLAGS) \
		-o $@ $(filter %.c,$^) $(PKG_LIBS)

.PHONY: fuzz fuzz-run
# deps, then the rest in a second make: with -j, prerequisites would not wait for deps
fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-run

fuzz-run: $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$t && \
		$(BUILD)/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/crash-$$t- \
			$(BUILD)/fuzz/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | \
			grep -E '^(stat::|==|SUMMARY|INFO: Done)' ; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# Benchmarks print ratios against a baseline measured in the same run; they never fail a build.
BENCH_UPSTREAM := $(BUILD)/bench-upstream
$(BENCH_UPSTREAM): $(BUILD)/tests/bench/upstream.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^

# The proxy bench's request/response exchanges (client and server).
BENCH_EXCHANGE := $(BUILD)/bench-exchange
$(BENCH_EXCHANGE): $(BUILD)/tests/bench/exchange.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^

# cell run's floor: a launcher that only starts bwrap and waits.
BENCH_WRAP := $(BUILD)/bench-wrap
$(BENCH_WRAP): $(BUILD)/tests/bench/wrap.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^

# The BPF bench's workload, run inside proxy-mode cells: libc only.
BENCH_CONNECT := $(BUILD)/bench-connect
$(BENCH_CONNECT): $(BUILD)/tests/bench/connect.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -pthread -o $@ $^

# The BPF bench's floor: the same hooks with programs that do nothing.
BENCH_EMPTY_BPF := $(BPF_DIR)/bench-empty.bpf.o
$(BENCH_EMPTY_BPF): tests/bench/empty.bpf.c $(BPF_DIR)/vmlinux.h
	@$(if $(Q),echo "  BPF     $<")
	$(Q)clang -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
		-I$(BPF_DIR) -c $< -o $@

.PHONY: bench bench-run
bench: deps
	$(Q)$(MAKE) --no-print-directory bench-run

bench-run: $(CELL) $(CELL_INIT) $(CELL_SESSION) $(CELL_PROXY) $(BENCH_UPSTREAM) $(BENCH_EXCHANGE) $(BENCH_CONNECT) \
	   $(BENCH_WRAP) $(BENCH_EMPTY_BPF) test-user
	$(Q)python3 tests/bench/cell-run.py $(abspath $(CELL)) $(abspath $(BENCH_WRAP))
	$(Q)python3 tests/bench/proxy.py $(abspath $(CELL)) $(abspath $(BENCH_UPSTREAM)) \
		$(abspath $(BENCH_EXCHANGE))
	$(Q)python3 tests/bench/bpf.py $(abspath $(BUILD)) $(abspath $(BENCH_CONNECT)) \
		$(abspath $(BENCH_EMPTY_BPF))
	$(Q)python3 tests/bench/hook.py $(abspath $(CELL))
	$(Q)python3 tests/bench/netns.py $(abspath $(CELL)) $(abspath $(BENCH_UPSTREAM))
	$(Q)python3 tests/bench/inspect.py $(abspath $(CELL))
	$(Q)python3 tests/bench/budget.py $(abspath $(CELL))

.PHONY: demo demo-run
# deps first (a fresh machine has no compiler yet); offline once everything is installed
demo: deps
	$(Q)$(MAKE) --no-print-directory demo-run

demo-run: $(CELL) $(CELL_INIT) $(CELL_SESSION) $(CELL_PROXY) $(SHIM) $(PAM_MODULE) $(PAM_DRIVER) test-user
	$(Q)bash examples/demo/demo.sh $(abspath $(CELL)) $(abspath $(PAM_MODULE)) \
		$(abspath $(PAM_DRIVER))

C_FILES = $(shell find module shim bpf tests -name '*.[ch]' -not -path '*/fixtures/*')

.PHONY: lint
# what may be at the top of the tree (and dotfiles): the fixed layout (and build/, untracked)
ROOT_LAYOUT := module|shim|bpf|shell|tests|docs|examples|debian|Makefile|README\.md|LICENSE|build

lint: deps
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -D_GNU_SOURCE -DCELL_VERSION='"lint"' -Imodule/lib -iquote module/lib \
		--suppress=missingIncludeSystem module
	$(Q)clang-format --dry-run -Werror $(C_FILES)
	$(Q)$(MAKE) --no-print-directory man
	$(Q)for m in $(MAN_PAGES); do \
		w=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l $$m 2>&1 >/dev/null); \
		if [ -n "$$w" ]; then echo "lint: $$m: $$w" >&2; exit 1; fi; done
	$(Q)stray=$$( (git ls-files 2>/dev/null || ls -A) | sed 's|/.*||' | sort -u | \
		grep -vxE '$(ROOT_LAYOUT)|\..*' ); \
	if [ -n "$$stray" ]; then \
		echo "lint: files at the top that are not the layout's: $$stray" >&2; exit 1; fi
	@echo "lint: clean"

# cell finds cell-init next to itself (a build tree) or in LIBEXECDIR, which is compiled in:
# build with the same PREFIX you install with.
.PHONY: install
install: $(CELL) $(CELL_INIT) $(CELL_SESSION) $(CELL_PROXY) $(SHIM) $(PAM_MODULE) $(MAN_PAGES)
	@if [ "$(SANITIZE)" = 1 ] && [ "$(SETUID)" = 1 ]; then \
		echo "make install: a sanitizer build is never installed setuid (its runtime reads" \
			"ASAN_OPTIONS before main: any user would have root's powers)" >&2; exit 1; fi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PAMDIR)
	install -m 0644 $(PAM_MODULE) $(DESTDIR)$(PAMDIR)/pam_cell.so
	install -m 0755 $(CELL) $(DESTDIR)$(BINDIR)/cell
	install -m 0755 $(CELL_INIT) $(DESTDIR)$(LIBEXECDIR)/cell-init
	install -m 0755 $(CELL_PROXY) $(DESTDIR)$(LIBEXECDIR)/cell-proxy
	install -m 0644 $(SHIM) $(DESTDIR)$(LIBEXECDIR)/libcellshim.so
	install -m $(if $(filter 1,$(SETUID)),4755,0755) $(CELL_SESSION) \
		$(DESTDIR)$(LIBEXECDIR)/cell-session
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(BUILD)/man/cell.1 $(DESTDIR)$(MANDIR)/man1/cell.1
	install -m 0644 $(BUILD)/man/cell.json.5 $(DESTDIR)$(MANDIR)/man5/cell.json.5
	install -m 0644 $(BUILD)/man/pam_cell.8 $(DESTDIR)$(MANDIR)/man8/pam_cell.8
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions \
		$(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0644 shell/completion.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/cell
	install -m 0644 shell/completion.zsh $(DESTDIR)$(DATADIR)/zsh/site-functions/_cell
	install -m 0644 shell/completion.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/cell.fish

# What make install put there, and nothing else: its files, and cell's own directory
# (LIBEXECDIR; bin/, man/ and the like may be others' too).
INSTALLED = $(BINDIR)/cell $(LIBEXECDIR)/cell-init $(LIBEXECDIR)/cell-proxy \
	$(LIBEXECDIR)/libcellshim.so $(LIBEXECDIR)/cell-session $(PAMDIR)/pam_cell.so \
	$(MANDIR)/man1/cell.1 $(MANDIR)/man5/cell.json.5 $(MANDIR)/man8/pam_cell.8 \
	$(DATADIR)/bash-completion/completions/cell $(DATADIR)/zsh/site-functions/_cell \
	$(DATADIR)/fish/vendor_completions.d/cell.fish
.PHONY: uninstall
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir --ignore-fail-on-non-empty $(DESTDIR)$(LIBEXECDIR) 2>/dev/null || true

# The Debian package (debian/, debhelper): built from the committed tree (git archive) in
# $(BUILD)/deb/, where dpkg-buildpackage leaves cell_$(VERSION)_ARCH.deb.
.PHONY: deb
deb: deps
	$(Q)rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/cell-$(VERSION)
	$(Q)git archive HEAD | tar -x -C $(BUILD)/deb/cell-$(VERSION)
	$(Q)cd $(BUILD)/deb/cell-$(VERSION) && dpkg-buildpackage -us -uc -b
	$(Q)ls $(BUILD)/deb/*.deb

# The package as a user gets it (root: it installs and purges it; CI runs it after make test).
.PHONY: test-package
test-package: test-user
	$(Q)bash tests/package/test.sh

.PHONY: clean
clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(BUILD)/module/cli/cell-init.d \
	$(BUILD)/module/cli/cell-proxy.d \
	$(BUILD)/tests/probe/probe.d $(BUILD)/tests/bench/upstream.d $(BUILD)/tests/bench/exchange.d $(BUILD)/tests/bench/connect.d $(UNIT_OBJ:.o=.d) $(INTEG_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) \
	$(SHIM_OBJ:.o=.d) $(PAM_OBJ:.o=.d)
