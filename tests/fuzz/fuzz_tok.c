/* Fuzz the PCRE2 word tokenizer (cl_tok) on any bytes: spans must lie
 * inside the input and follow each other. */
#include <stdlib.h>

#include "cl_tok.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cl_tok *tok; /* compiled once: the rule table is the slow part */
    cl_diag d = {{0}};
    if (!tok && cl_tok_create(&tok, &d))
        abort();
    cl_tok_span *spans;
    size_t n;
    if (cl_tok_line_alloc(tok, (const char *)data, size, &spans, &n, &d) == 0) {
        for (size_t i = 0; i < n; i++)
            if (spans[i].len == 0 || spans[i].off + spans[i].len > size ||
                (i && spans[i].off < spans[i - 1].off + spans[i - 1].len))
                abort();
        free(spans);
    }
    return 0;
}
