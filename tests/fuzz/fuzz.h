/* The libFuzzer entry point every harness in tests/fuzz/ defines.  Built
 * two ways (Makefile): with clang -fsanitize=fuzzer,address,undefined by
 * `make fuzz`, and with the project's compiler and replay_main.c by
 * `make check`, which feeds it each file of the seed corpus. */
#ifndef CL_FUZZ_H
#define CL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
