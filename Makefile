# charlstm — build, test, install.
#
#   make                 library (static + shared) and the charlstm tool
#   make deps            install the Debian packages the build needs (root)
#   make check           build and run the Check unit test suite
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make demo            the main job: fetch a corpus, train a few minutes, generate
#   make bench           speed benchmarks side by side with the PyTorch reference,
#                        and charlstm serve under wrk (make bench-serve: that alone)
#   make quality         long quality checks on ../shared/data (not run by CI)
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
OPT      ?= -O2 -march=native
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
OPT      := -O1 -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
BUILD    ?= build
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
LDLIBS   += $(PKG_LIBS) -lm

# Kernels compiled twice: float (training) and double (gradient checks).
TPL_SRC  := lib/cl_rnn.c lib/cl_layers.c lib/cl_seqrnn.c
LIB_SRC  := $(sort $(wildcard lib/*.c))
LIB_OBJ  := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o) $(TPL_SRC:lib/%.c=$(BUILD)/lib/%_d.o)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.o)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)

STATIC   := $(BUILD)/libcharlstm.a
SHARED   := $(BUILD)/libcharlstm.so.$(VERSION)
TOOL     := $(BUILD)/charlstm
TESTBIN  := $(BUILD)/check_charlstm

.PHONY: all deps check bench bench-serve quality install uninstall clean corpora demo
all: $(STATIC) $(SHARED) $(TOOL)

deps:
	./scripts/deps.sh

$(BUILD)/lib/%_d.o: lib/%.c lib/*.h | $(BUILD)/lib
	$(CC) $(CFLAGS) -DCL_DOUBLE -c $< -o $@
$(BUILD)/lib/%.o: lib/%.c lib/*.h | $(BUILD)/lib
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c $(wildcard tools/*.h) lib/*.h | $(BUILD)/tools
	$(CC) $(CFLAGS) -Itools -I$(BUILD)/tools -DCL_VERSION='"$(VERSION)"' -c $< -o $@

# The server's page, compiled in as serve_page_html[] (no file to install or find).
$(BUILD)/tools/serve_http.o: $(BUILD)/tools/serve_page.h
$(BUILD)/tools/serve_page.h: tools/serve_page.html | $(BUILD)/tools
	cd tools && xxd -i serve_page.html > $(CURDIR)/$@.tmp
	mv $@.tmp $@
$(BUILD)/tests/%.o: tests/%.c tests/*.h lib/*.h $(BUILD)/tests/suites.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itools -I$(BUILD)/tests $(CHECK_CFLAGS) -DCL_SRCDIR='"$(CURDIR)"' \
	    -DCL_TOOL='"$(CURDIR)/$(TOOL)"' -c $< -o $@

# The runner's list of suites is every `Suite *suite_NAME(void)` in tests/.
$(BUILD)/tests/suites.h: $(TEST_SRC) | $(BUILD)/tests
	grep -ho '^Suite \*suite_[a-z0-9_]*(void)' $(TEST_SRC) | sed 's/^Suite \*\(suite_[a-z0-9_]*\)(void)/CL_SUITE(\1)/' > $@.tmp
	mv $@.tmp $@

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
$(TESTBIN): $(TEST_OBJ) $(filter-out $(BUILD)/tools/charlstm.o,$(TOOL_OBJ)) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# CK_DEFAULT_TIMEOUT: the sanitizer build is several times slower.
check: $(TESTBIN) $(TOOL)
	OPENBLAS_NUM_THREADS=1 CK_DEFAULT_TIMEOUT=600 $(TESTBIN)

demo:
	./scripts/demo.sh

# Benchmark helpers, optimised like the library (not part of `all`).
$(BUILD)/gen_bench: bench/gen_bench.c $(STATIC)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LDLIBS)
$(BUILD)/%_bench: ../shared/bench/%_bench.c
	$(CC) -O2 -march=native $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bench: all $(BUILD)/gen_bench
	BUILD=$(BUILD) ./bench/run.sh
	BUILD=$(BUILD) ./bench/serve_bench.sh

bench-serve: all
	BUILD=$(BUILD) ./bench/serve_bench.sh

quality: all
	./scripts/quality.sh

corpora:
	./corpora/get.sh

charlstm.pc: charlstm.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $(BUILD)/charlstm.pc

install: all charlstm.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/charlstm
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libcharlstm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcharlstm.so.0
	ln -sf libcharlstm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcharlstm.so
	install -m 644 lib/*.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(BUILD)/charlstm.pc $(DESTDIR)$(PCDIR)/
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/charlstm $(DESTDIR)$(LIBDIR)/libcharlstm.* $(DESTDIR)$(PCDIR)/charlstm.pc
	rm -rf $(DESTDIR)$(INCDIR) $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-san
