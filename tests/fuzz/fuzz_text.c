/* Fuzz the UTF-8 text reader (cl_text_decode) with the option sets a user
 * can choose: NFC on/off, case folding, invalid bytes replaced or refused. */
#include <stdlib.h>

#include "cl_text.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cl_text_opts o = cl_text_defaults();
    o.nfc = data[0] & 1, o.casefold = (data[0] >> 1) & 1, o.replace_invalid = (data[0] >> 2) & 1;
    int32_t *cps;
    size_t n;
    cl_diag d = {{0}};
    if (cl_text_decode((const char *)data + 1, size - 1, &o, "fuzz.txt", &cps, &n, &d) == 0) {
        for (size_t i = 0; i < n; i++)
            if (cps[i] < 0 || cps[i] > 0x10FFFF || (cps[i] >= 0xD800 && cps[i] <= 0xDFFF))
                abort();
        free(cps);
    }
    return 0;
}
