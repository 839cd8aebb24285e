# charlstm — build, test, install.
#
#   make                 library (static + shared) and the charlstm tool
#   make deps            install the Debian packages the build needs (root)
#   make check           build and run the Check unit test suite
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make PORTABLE=1      a build for any x86-64 CPU (baseline instructions) into
#                        build-portable/; charlstm's own kernels are compiled for
#                        baseline, AVX2, AVX-512 and AVX-512 + BF16 in every build and
#                        chosen at run time (CHARLSTM_ISA=baseline|avx2|avx512|avx512bf16)
#   make MPI=1           build with MPI (mpicc) into build-mpi/: charlstm train under mpirun
#                        (make check builds it too when mpicc exists, for the MPI tests)
#   make demo            the main job: fetch a corpus, train a few minutes, generate
#   make bench           speed benchmarks side by side with the PyTorch reference
#                        (and the data-parallel scaling table when MPI is built),
#                        and charlstm serve under wrk (make bench-serve: that alone),
#                        tag and classify throughput and co-process latency
#                        (make bench-stream: that alone), and tagging's words/s from
#                        raw text with and without LM features (make bench-tag)
#   make fuzz FUZZ_SECONDS=N  run each libFuzzer harness of tests/fuzz for N seconds (clang)
#   make quality         long quality checks on ../shared/data (not run by CI)
#   make mutation        plant each bug of tests/mutation/mutations.txt, run the
#                        suite on it, print the score (MUTANTS="id ..." for some)
#   make python          the Python package (python/), built in place
#   make install PREFIX=/usr/local DESTDIR=

VERSION  := 0.1.0
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
BINDIR   ?= $(PREFIX)/bin
INCDIR   ?= $(PREFIX)/include/charlstm
PCDIR    ?= $(LIBDIR)/pkgconfig
DOCDIR   ?= $(PREFIX)/share/doc/charlstm

CC       ?= cc
PKGS     := openblas libutf8proc libpcre2-8 zlib libmicrohttpd libcjson
# oneDNN (libdnnl-dev) has no pkg-config file in Debian 12: linked as -ldnnl.
PORTABLE ?= 0
ifeq ($(PORTABLE),1)
OPT      ?= -O2 -march=x86-64 -mtune=generic
PORT_SFX := -portable
else
OPT      ?= -O2 -march=native
PORT_SFX :=
endif
SANITIZE ?= 0
MPI      ?= 0
# The MPI variant: the same sources compiled by mpicc, with the MPI
# communicator (lib/cl_dist_mpi.c) in place of the one that says "no MPI".
MPICC    ?= $(shell command -v mpicc 2>/dev/null)
MPI_BUILD := build-mpi$(PORT_SFX)
MPI_TOOL := $(if $(MPICC),$(CURDIR)/$(MPI_BUILD)/charlstm)
ifeq ($(MPI),1)
CC       := mpicc
MPI_SFX  := -mpi
DIST_OUT := lib/cl_dist_nompi.c
else
MPI_SFX  :=
DIST_OUT := lib/cl_dist_mpi.c
endif

ifeq ($(SANITIZE),1)
BUILD    ?= build-san$(PORT_SFX)$(MPI_SFX)
OPT      := -O1 -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
BUILD    ?= build$(PORT_SFX)$(MPI_SFX)
SANFLAGS :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

CFLAGS   ?= -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -fPIC -fopenmp $(OPT) $(SANFLAGS) \
            -Ilib $(PKG_CFLAGS)
LDFLAGS  += -fopenmp $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -ldnnl -lm

# Fuzz harnesses (tests/fuzz/fuzz_NAME.c), replayed over their seeds by check.
FUZZ_NAMES  := model conllu tsv tok text
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)

# Kernels compiled twice: float (training) and double (gradient checks).
TPL_SRC  := lib/cl_rnn.c lib/cl_layers.c lib/cl_seqrnn.c
# charlstm's own hot kernels (lib/cl_kern.h), compiled once per instruction
# set with these flags in every build (the library's -march is dropped for
# them) and chosen at run time by lib/cl_kern.c.  x86-64 only; elsewhere the
# baseline variant alone, with the compiler's defaults.
KERN_SRC := lib/cl_kern_isa.c
ifneq ($(filter x86_64-%,$(shell $(CC) -dumpmachine)),)
KERN_ISAS := baseline avx2 avx512 avx512bf16
else
KERN_ISAS := baseline
endif
KERN_FLAGS_baseline := $(if $(filter avx2,$(KERN_ISAS)),-march=x86-64 -mtune=generic)
KERN_FLAGS_avx2     := -march=x86-64 -mtune=generic -mavx2 -mfma
KERN_FLAGS_avx512   := $(KERN_FLAGS_avx2) -mavx512f -mavx512bw -mavx512dq -mavx512vl
KERN_FLAGS_avx512bf16 := $(KERN_FLAGS_avx512) -mavx512bf16
KERN_CFLAGS = $(filter-out -march=% -mtune=%,$(CFLAGS))
KERN_OBJ := $(KERN_ISAS:%=$(BUILD)/lib/kern-%.o)
LIB_SRC  := $(filter-out $(DIST_OUT) $(KERN_SRC),$(sort $(wildcard lib/*.c)))
LIB_OBJ  := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o) $(TPL_SRC:lib/%.c=$(BUILD)/lib/%_d.o) $(KERN_OBJ)
# Installed headers: every one but the library's internal ones.
INTERNAL_HDR := lib/cl_real.h lib/cl_lines.h lib/cl_tagger_impl.h lib/cl_registry.h lib/cl_wmat.h \
                lib/cl_kern.h lib/cl_gates.h lib/cl_wmat_kern.h
PUBLIC_HDR := $(filter-out $(INTERNAL_HDR),$(sort $(wildcard lib/*.h)))
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.o)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)
# The test build of the whole library in double (tests/wide.h): the heads'
# gradient checks run in it, as their own program that the head_gradcheck
# suite of check_charlstm runs.  cl_infer (bfloat16 copies of 4-byte floats)
# has no meaning there and is left out, and so are the kernel variants (the
# recurrent stacks call cl_gates.h directly there); the communicator is the serial one.
WIDE     := $(BUILD)/wide
WIDE_CFLAGS := -DCL_WIDE -include tests/wide.h
WIDE_LIB := $(WIDE)/libcharlstm.a
WIDE_OBJ := $(patsubst lib/%.c,$(WIDE)/lib/%.o,$(filter-out lib/cl_infer.c lib/cl_wmat.c lib/cl_dist_mpi.c \
                  lib/cl_kern.c $(KERN_SRC),$(sort $(wildcard lib/*.c))))
WIDE_TEST_SRC := tests/check_main.c tests/test_head_gradcheck.c
WIDE_CHECK := $(WIDE)/check_heads

STATIC   := $(BUILD)/libcharlstm.a
SHARED   := $(BUILD)/libcharlstm.so.$(VERSION)
TOOL     := $(BUILD)/charlstm
TESTBIN  := $(BUILD)/check_charlstm
PYTHON   ?= /usr/bin/python3

.PHONY: all deps check check-python python bench bench-serve bench-stream bench-tag quality pretrain install uninstall clean corpora demo mutation fuzz
all: $(STATIC) $(SHARED) $(TOOL)

deps:
	./scripts/deps.sh

# The shared library exports only what the public headers declare (cl_api.h).
$(BUILD)/lib/%_d.o: lib/%.c lib/*.h | $(BUILD)/lib
	$(CC) $(CFLAGS) -fvisibility=hidden -DCL_DOUBLE -c $< -o $@
$(BUILD)/lib/%.o: lib/%.c lib/*.h | $(BUILD)/lib
	$(CC) $(CFLAGS) -fvisibility=hidden -c $< -o $@
$(BUILD)/lib/kern-%.o: $(KERN_SRC) lib/*.h | $(BUILD)/lib
	$(CC) $(KERN_CFLAGS) $(KERN_FLAGS_$*) -fvisibility=hidden -DCL_KERN_ISA=$* -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c $(wildcard tools/*.h) lib/*.h | $(BUILD)/tools
	$(CC) $(CFLAGS) -Itools -I$(BUILD)/tools -DCL_VERSION='"$(VERSION)"' -c $< -o $@

# The server's page, compiled in as serve_page_html[] (no file to install or find).
$(BUILD)/tools/serve_http.o: $(BUILD)/tools/serve_page.h
$(BUILD)/tools/serve_page.h: tools/serve_page.html | $(BUILD)/tools
	cd tools && xxd -i serve_page.html > $(CURDIR)/$@.tmp
	mv $@.tmp $@
$(BUILD)/tests/%.o: tests/%.c tests/*.h lib/*.h $(BUILD)/tests/suites.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itools -I$(BUILD)/tests $(CHECK_CFLAGS) -DCL_SRCDIR='"$(CURDIR)"' \
	    -DCL_TOOL='"$(CURDIR)/$(TOOL)"' -DCL_WIDE_CHECK='"$(CURDIR)/$(WIDE_CHECK)"' -c $< -o $@

# The runner's list of suites is every `Suite *suite_NAME(void)` in tests/
# (once: a file compiled for both test programs defines its suite twice).
$(BUILD)/tests/suites.h: $(TEST_SRC) | $(BUILD)/tests
	grep -ho '^Suite \*suite_[a-z0-9_]*(void)' $(TEST_SRC) | awk '!seen[$$0]++' | \
	    sed 's/^Suite \*\(suite_[a-z0-9_]*\)(void)/CL_SUITE(\1)/' > $@.tmp
	mv $@.tmp $@

# ---- the double test build (WIDE above)
$(WIDE)/lib/%.o: lib/%.c lib/*.h tests/wide.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WIDE_CFLAGS) -c $< -o $@
$(WIDE_LIB): $(WIDE_OBJ)
	rm -f $@
	ar rcs $@ $^
$(WIDE)/tests/suites.h: tests/test_head_gradcheck.c
	@mkdir -p $(@D)
	echo 'CL_SUITE(suite_head_gradcheck)' > $@
$(WIDE)/tests/%.o: tests/%.c tests/*.h lib/*.h tests/wide.h $(WIDE)/tests/suites.h
	$(CC) $(CFLAGS) $(WIDE_CFLAGS) -I$(WIDE)/tests $(CHECK_CFLAGS) -DCL_SRCDIR='"$(CURDIR)"' \
	    -DCL_TOOL='"$(CURDIR)/$(TOOL)"' -c $< -o $@
$(WIDE_CHECK): $(WIDE_TEST_SRC:tests/%.c=$(WIDE)/tests/%.o) $(WIDE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/lib $(BUILD)/tools $(BUILD)/tests:
	mkdir -p $@

$(STATIC): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^
$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libcharlstm.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libcharlstm.so.$(VERSION) $(BUILD)/libcharlstm.so.0
	ln -sf libcharlstm.so.$(VERSION) $(BUILD)/libcharlstm.so
$(TOOL): $(TOOL_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(TESTBIN): $(TEST_OBJ) $(filter-out $(BUILD)/tools/charlstm.o,$(TOOL_OBJ)) $(STATIC) | $(WIDE_CHECK)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# CK_DEFAULT_TIMEOUT: the sanitizer build is several times slower.  Then the
# fuzz harnesses replay their seed corpora (built without libFuzzer).  With
# PORTABLE=1, check_portable.sh looks for AVX outside the kernel variants.
# With mpicc on the machine, the MPI variant of the tool is built too and
# the MPI tests run it (CHARLSTM_MPI); without, they say they were skipped.
check: $(TESTBIN) $(TOOL) $(SHARED) $(FUZZ_REPLAY) $(if $(MPI_TOOL),mpi-tool)
	OPENBLAS_NUM_THREADS=1 CK_DEFAULT_TIMEOUT=600 CHARLSTM_MPI=$(MPI_TOOL) $(TESTBIN)
	for n in $(FUZZ_NAMES); do $(BUILD)/fuzz/replay_$$n tests/fuzz/corpus/$$n/* || exit 1; done
	BUILD=$(BUILD) CC=$(CC) SANFLAGS='$(SANFLAGS)' ./scripts/check_api.sh $(PUBLIC_HDR)
ifeq ($(PORTABLE),1)
	BUILD=$(BUILD) ./scripts/check_portable.sh
endif
	@$(MAKE) --no-print-directory check-python

# The Python package's tests (python/tests), when Python 3 with cffi, NumPy
# and pytest is there (make deps installs them); said out loud otherwise.
# Not under SANITIZE=1: the interpreter is not built with ASan.
check-python:
ifeq ($(SANITIZE),1)
	@echo "python tests: skipped under SANITIZE=1 (the interpreter is not instrumented)"
else
	@if $(PYTHON) -c 'import cffi, numpy, pytest' 2>/dev/null; then \
	    $(MAKE) --no-print-directory python && \
	    CHARLSTM_TOOL=$(CURDIR)/$(TOOL) OPENBLAS_NUM_THREADS=1 \
	    $(PYTHON) -m pytest -q -p no:cacheprovider -p no:hypothesispytest python/tests; \
	else \
	    echo "python tests: SKIPPED: $(PYTHON) with cffi, numpy and pytest not found (make deps)"; \
	fi
endif

python: $(STATIC) $(TOOL)
	cd python && CHARLSTM_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) setup.py -q build_ext --inplace

# ---- fuzzing: tests/fuzz/fuzz_NAME.c are libFuzzer harnesses.  `make fuzz`
# builds them with clang (-fsanitize=fuzzer,address,undefined, the library
# too) and runs each for FUZZ_SECONDS on a copy of its seed corpus; it
# installs nothing and says what is missing.  See docs/reliability.md.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fopenmp $(FUZZ_SAN) \
                -Ilib -Itests/fuzz $(PKG_CFLAGS)
FUZZ_LIB_OBJ := $(LIB_SRC:lib/%.c=$(FUZZ_BUILD)/lib/%.o) $(KERN_ISAS:%=$(FUZZ_BUILD)/lib/kern-%.o)

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c tests/fuzz/fuzz.h $(STATIC)
	mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/fuzz -o $@ $< tests/fuzz/replay_main.c $(STATIC) $(LDFLAGS) $(LDLIBS)

$(FUZZ_BUILD)/lib/%.o: lib/%.c lib/*.h
	mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/lib/kern-%.o: $(KERN_SRC) lib/*.h
	mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(KERN_FLAGS_$*) -fsanitize=fuzzer-no-link -DCL_KERN_ISA=$* -c $< -o $@
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(PKG_LIBS) -ldnnl -lm

fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz: $(FUZZ_CC) not found (Debian: clang-14)"; exit 1; }
	@mkdir -p $(FUZZ_BUILD)
	@echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o $(FUZZ_BUILD)/probe - 2>/dev/null || \
	    { echo "make fuzz: $(FUZZ_CC) cannot link -fsanitize=fuzzer (Debian: libclang-rt-14-dev)"; exit 1; }
	$(MAKE) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "fuzz_$$n: $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/$$n.log)"; \
	    $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/$$n- \
	        $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n > $(FUZZ_BUILD)/$$n.log 2>&1 || \
	        { tail -40 $(FUZZ_BUILD)/$$n.log; echo "make fuzz: fuzz_$$n failed"; exit 1; }; \
	    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: .*corp' $(FUZZ_BUILD)/$$n.log | tail -3; \
	done

.PHONY: mpi-tool
mpi-tool:
	$(MAKE) MPI=1 SANITIZE=0 BUILD=$(MPI_BUILD) $(MPI_BUILD)/charlstm

demo:
	./scripts/demo.sh

# Planted bugs, one at a time, in a copy of the tree (docs/testing.md).
mutation:
	./scripts/mutation.sh $(MUTANTS)

# Benchmark helpers, optimised like the library (not part of `all`).
$(BUILD)/gen_bench: bench/gen_bench.c $(STATIC)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LDLIBS)
$(BUILD)/load_bench: bench/load_bench.c $(STATIC)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LDLIBS)
$(BUILD)/%_bench: ../shared/bench/%_bench.c
	$(CC) -O2 -march=native $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bench: all $(BUILD)/gen_bench $(BUILD)/load_bench $(if $(MPI_TOOL),mpi-tool)
	BUILD=$(BUILD) ./bench/run.sh
	$(if $(MPI_TOOL),MPI_TOOL=$(MPI_TOOL) ./bench/mpi_scaling.sh)
	BUILD=$(BUILD) ./bench/serve_bench.sh

bench-serve: all
	BUILD=$(BUILD) ./bench/serve_bench.sh

# tag and classify alone: throughput from a file and a pipe, co-process latency
bench-stream: all
	CHARLSTM=$(TOOL) ./bench/stream_bench.sh tag
	CHARLSTM=$(TOOL) ./bench/stream_bench.sh classify
bench-tag: all
	CHARLSTM=$(TOOL) ./bench/tag_speed.sh 2 4 "auto fp32"

quality: all
	./scripts/quality.sh

# character LMs for --init on the registries' English text; hours, resumable:
# each run adds MINUTES (default 120) per direction (docs/language-model.md)
pretrain: all
	./scripts/pretrain.sh

corpora:
	./corpora/get.sh

charlstm.pc: charlstm.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@BINDIR@|$(BINDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $(BUILD)/charlstm.pc

install: all charlstm.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/charlstm
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libcharlstm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcharlstm.so.0
	ln -sf libcharlstm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcharlstm.so
	install -m 644 $(PUBLIC_HDR) $(DESTDIR)$(INCDIR)/
	install -m 644 $(BUILD)/charlstm.pc $(DESTDIR)$(PCDIR)/
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/charlstm $(DESTDIR)$(LIBDIR)/libcharlstm.* $(DESTDIR)$(PCDIR)/charlstm.pc
	rm -rf $(DESTDIR)$(INCDIR) $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-san build-fuzz build-mpi build-san-mpi python/build \
	    build-portable build-san-portable build-mpi-portable python/charlstm/_cffi*.so python/charlstm/_cffi.c
