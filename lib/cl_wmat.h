/* cl_wmat: weight matrices of inference in float32, bfloat16 or int8, and
 * their products with a few columns at a time (internal to cl_infer).
 *
 * Generation reads every weight once per step, so the bytes of a weight
 * decide its speed.  A matrix is stored in one of three formats:
 *  - CL_WEIGHTS_FP32: as trained (the reference);
 *  - CL_WEIGHTS_BF16: bfloat16, half the bytes, 8 significant bits;
 *  - CL_WEIGHTS_INT8: int8 with one float scale per row (max |w| / 127), a
 *    quarter of the bytes.
 * Products accumulate in float32 (fp32, bf16) or exactly in int32 (int8).
 * The int8 product's inputs are int16 with a fixed scale (cl_wmat_put):
 * every input of an LSTM's products is a hidden state h = o tanh(c), so
 * |h| < 1 and a fixed scale needs no pass over the vector to find its
 * range; 15 bits keep h to 3e-5 where an int8 input would lose 4e-3.
 *
 * Columns are independent: the value of a column does not depend on the
 * number of columns or on how rows are split between threads (every
 * (row, column) is one accumulator with the same order of additions), so a
 * batch gives bit for bit what each of its columns gives alone.
 *
 * The kernels are separate functions per instruction set (AVX-512 with
 * VNNI, AVX-512, AVX2, portable C), chosen at compile time. */
#ifndef CL_WMAT_H
#define CL_WMAT_H

#include <stddef.h>
#include <stdint.h>

#include "cl_infer.h"

/* Rows are padded with zeros to kp columns (a multiple of CL_WMAT_PAD), so
 * the kernels need no tail loop; inputs are padded the same way. */
enum { CL_WMAT_PAD = 32 };

typedef struct {
    cl_weights type;
    int n, k, kp;  /* rows, columns, padded columns */
    void *w;       /* [n, kp]: float, uint16_t (bfloat16) or int8_t */
    float *scale;  /* int8: [n] per row, already divided by xq; else NULL */
    int xq;        /* int8: an input x is stored as round(x * xq) */
} cl_wmat;

/* m from the float matrix src [n, k] (row-major).  CL_ENOMEM; m owns its
 * buffers, freed by cl_wmat_free (also after a failed init). */
int cl_wmat_init(cl_wmat *m, cl_weights type, const float *src, int n, int k);
void cl_wmat_free(cl_wmat *m);

/* Bytes of one input column (kp elements of the input type). */
size_t cl_wmat_xbytes(const cl_wmat *m);
/* Bytes a product reads from m: weights and scales. */
size_t cl_wmat_bytes(const cl_wmat *m);

/* Input column x (cl_wmat_xbytes bytes): elements [off, off + len) take
 * v[0..len) in m's input type (float, or int16 for int8 with |v| <= 1). */
void cl_wmat_put(const cl_wmat *m, void *x, int off, const float *v, int len);

/* The products themselves are a kernel of each instruction-set variant:
 * cl_kern.h's wmat_rows (lib/cl_wmat_kern.h), so that a portable build runs
 * the tiles of the CPU it is on. */

#endif
