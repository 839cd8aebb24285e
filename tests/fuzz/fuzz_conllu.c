/* Fuzz the CoNLL-U reader and writer (cl_conllu): every sentence read is
 * written back (to /dev/null), the round trip the tagger's output uses. */
#include <stdio.h>

#include "cl_conllu.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "rb"), *out = fopen("/dev/null", "wb");
    cl_conllu_reader *r = f ? cl_conllu_reader_new(f, "fuzz.conllu") : NULL;
    cl_conllu_sent *s = cl_conllu_sent_new();
    cl_diag d = {{0}};
    while (r && s && out && cl_conllu_read(r, s, &d) == 1)
        cl_conllu_write(out, s, "/dev/null", &d);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    if (f)
        fclose(f);
    if (out)
        fclose(out);
    return 0;
}
