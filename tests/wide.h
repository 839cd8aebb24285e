/* wide.h: the double-precision test build of the whole library.
 *
 * Forced in front of every file of that build (`-include tests/wide.h
 * -DCL_WIDE`, the Makefile's WIDE rules): the system headers are read here
 * first, as they are, and then `float` means `double` for the rest of the
 * file, so the library's own code -- the heads (cl_lm, cl_classifier,
 * cl_tagger_net), the encoder, cl_params, the model -- computes in double
 * without a second copy of any of it.  The kernels pick double BLAS through
 * cl_real.h (CL_WIDE), single-precision maths functions become their
 * double ones, and LAPACK's single-precision QR (orthogonal init) its
 * double one.
 *
 * Only the head gradient checks (tests/test_head_gradcheck.c) run on this
 * build: central differences in double, tolerance 1e-6.  Its model files,
 * bfloat16 and oneDNN paths are not meaningful (they read and write 4-byte
 * floats) and are never called there. */
#ifndef CL_WIDE_H
#define CL_WIDE_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <assert.h>
#include <cblas.h>
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <dnnl.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <immintrin.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pcre2.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zlib.h>

#define float double
#define expf exp
#define logf log
#define tanhf tanh
#define sqrtf sqrt
#define powf pow
#define fabsf fabs
#define strtof strtod
#define sgeqrf_ dgeqrf_
#define sorgqr_ dorgqr_

#endif
