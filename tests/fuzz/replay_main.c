/* Replay: run a harness over files given on the command line (a seed
 * corpus), without libFuzzer.  Exit 0 when every file ran; a crash or a
 * sanitizer report ends the process as it would under the fuzzer. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0, k;
    unsigned char *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += k) == cap) {
            unsigned char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    int bad = !buf || ferror(f);
    fclose(f);
    if (!bad)
        LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    if (bad)
        fprintf(stderr, "%s: cannot read\n", path);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= replay(argv[i]);
    printf("%s: %d inputs replayed\n", argc > 0 ? argv[0] : "replay", argc - 1);
    return bad;
}
