/* Fuzz the label<TAB>text reader (cl_tsv) over any bytes. */
#include <stdio.h>

#include "cl_tsv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    cl_tsv_reader *r = cl_tsv_reader_new(f, "fuzz.tsv");
    const char *label, *text;
    cl_diag d = {{0}};
    while (r && cl_tsv_read(r, &label, NULL, &text, NULL, &d) == 1)
        ;
    cl_tsv_reader_free(r);
    fclose(f);
    return 0;
}
