#!/usr/bin/env bash
# A PORTABLE=1 build is what it claims (docs/performance.md, "Portable builds"):
#  1. no object of the library or the tool uses AVX (VEX/EVEX-encoded
#     instructions, YMM/ZMM registers) except the AVX2, AVX-512 and
#     AVX512-BF16 kernel variants, which run only where the CPU has them;
#  2. the tool runs with every kernel variant this CPU runs, and each
#     generates the same text from a small model (the same seed; the
#     variants' logits differ by ~1e-7, so a draw would change only if it fell
#     that close to a boundary) and reads a text at the same loss.
#   BUILD=build-portable scripts/check_portable.sh
set -euo pipefail
BUILD=${BUILD:-build-portable}
cd "$(dirname "$0")/.."
fail=0
for o in "$BUILD"/lib/*.o "$BUILD"/tools/*.o; do
    case "$o" in */kern-avx2.o | */kern-avx512.o | */kern-avx512bf16.o) continue ;; esac
    hits=$(objdump -d --no-show-raw-insn "$o" | grep -cE '%[yz]mm|^\s+[0-9a-f]+:\s+v[a-z0-9]+\s.*%xmm' || true)
    if [ "$hits" != 0 ]; then
        echo "check_portable: $o: $hits AVX instructions outside the kernel variants"
        fail=1
    fi
done
tool="$BUILD/charlstm"
model=tests/data/trainer_lstm.model
ref=""
for isa in baseline avx2 avx512 avx512bf16; do
    if ! CHARLSTM_ISA=$isa "$tool" --version >/dev/null 2>&1; then
        echo "check_portable: $isa: not run by this CPU (skipped)"
        continue
    fi
    out=$(CHARLSTM_ISA=$isa "$tool" generate -m "$model" --prompt "the " -n 100 --seed 3
          CHARLSTM_ISA=$isa "$tool" eval -m "$model" tests/data/trainer_text.txt)
    if [ -z "$ref" ]; then
        ref=$out
    elif [ "$out" != "$ref" ]; then
        echo "check_portable: $isa generates or scores otherwise than baseline:"
        printf '  %s\n  %s\n' "$ref" "$out"
        fail=1
    fi
done
[ $fail = 0 ] && echo "check_portable: no AVX outside the kernel variants; every variant this CPU runs generates and scores alike"
exit $fail
