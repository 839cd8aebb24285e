#!/usr/bin/env bash
# make bench: charlstm side by side with the PyTorch reference
# (../shared/bench/torch_charlm.py) on the same data, flags and thread counts,
# plus the SGEMM ceiling of OpenBLAS for the shapes of a 2 x 512 step and the
# memory of training on a small and a large corpus.  Prints one table.
#
#   BENCH_RUNS=3        runs per measurement (the median is reported)
#   BENCH_THREADS="1 2" thread counts
#   BENCH_MEMORY=1      also train on a generated 1 GB corpus (needs ~6 GB of disk)
#   BENCH_DATA=DIR      tiny-shakespeare (default ../shared/data/tinyshakespeare)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-1 2}
DATA=${BENCH_DATA:-../shared/data/tinyshakespeare}
REF=../shared/bench/torch_charlm.py
TOOL=$BUILD/charlstm
OUT=$(mktemp -d /tmp/charlstm-bench-XXXXXX)
trap 'rm -rf "$OUT"' EXIT

[ -f "$DATA/train.txt" ] || { echo "bench: $DATA/train.txt not found (set BENCH_DATA)"; exit 1; }
# Both tools evaluate once at the end; a short validation text keeps that cheap
# (throughput counts training steps only, in both).
head -c 20000 "$DATA/valid.txt" > "$OUT/valid.txt"

have_torch=0
if [ -f "$REF" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then have_torch=1; fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }

# charlstm train: prints "train chars/s: N ..."
ours_train() { # layers hidden batch seq steps threads
    "$TOOL" train --train "$DATA/train.txt" --dev "$OUT/valid.txt" -o "$OUT/m.model" \
        --layers "$1" --hidden "$2" --emb 64 --batch "$3" --seq "$4" --steps "$5" \
        --threads "$6" --eval-every 0 --lr 2e-3 --clip 5 --dropout 0 --seed 1 2>&1 |
        tr '\r' '\n' | awk '/^train chars\/s:/ {print $3}'
}
ref_train() { # layers hidden batch seq steps threads [--bf16]
    OPENBLAS_NUM_THREADS=$6 /usr/bin/python3 "$REF" --train "$DATA/train.txt" \
        --valid "$OUT/valid.txt" --layers "$1" --hidden "$2" --emb 64 --batch "$3" \
        --seq "$4" --steps "$5" --threads "$6" --eval-every 0 --lr 2e-3 --dropout 0 --seed 1 \
        ${7:-} 2>&1 | awk '/^train chars\/s:/ {print $3}'
}
# LM training steps with the encoder's products in a given precision
# (gen_bench --train: forward, backward, SGD update; the trainer's Adam is not
# in it).  Prints chars/s.
ours_prec() { # layers hidden precision threads steps
    OPENBLAS_NUM_THREADS=1 "$BUILD/gen_bench" --train "$1" "$2" "$3" "$4" "$5" 32 100 |
        sed -n 's/.* \([0-9]*\) chars\/s.*/\1/p'
}
ours_gen() { OPENBLAS_NUM_THREADS=1 "$BUILD/gen_bench" "$1" "$2" "$3" | awk '{print $8}'; }
ref_gen() {
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$REF" --train "$OUT/valid.txt" \
        --valid "$OUT/valid.txt" --layers "$1" --hidden "$2" --threads 1 --gen-bench "$3" 2>&1 |
        awk '/^generation:/ {print $8}'
}
repeat() { for _ in $(seq "$RUNS"); do "$@"; done | median; }

row() { # name ours ref
    local ratio="-"
    [ "$3" != "-" ] && ratio=$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.2fx", a / b}')
    printf '| %-42s | %12.0f | %12s | %7s |\n' "$1" "$2" "$3" "$ratio"
}

echo "charlstm bench, $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "median of $RUNS runs; chars/s (higher is better); PyTorch: $([ $have_torch = 1 ] && /usr/bin/python3 -c 'import torch; print(torch.__version__)' || echo 'not available')"
echo
echo "| workload                                   |     charlstm |      PyTorch |   ratio |"
echo "|--------------------------------------------|--------------|--------------|---------|"
for t in $THREADS; do
    for cfg in "1 256 32 64 60" "2 512 32 100 15"; do
        set -- $cfg
        ours=$(repeat ours_train "$1" "$2" "$3" "$4" "$5" "$t")
        ref="-"
        [ $have_torch = 1 ] && ref=$(repeat ref_train "$1" "$2" "$3" "$4" "$5" "$t")
        row "train $1 x $2, batch $3, seq $4, $t thread(s)" "$ours" "$ref"
        [ "$cfg" = "2 512 32 100 15" ] && eval "train2x512_t$t=$ours"
    done
done

for cfg in "1 256 20000" "2 512 4000"; do
    set -- $cfg
    ours=$(repeat ours_gen "$1" "$2" "$3")
    ref="-"
    [ $have_torch = 1 ] && ref=$(repeat ref_gen "$1" "$2" $(( $3 / 4 )))
    row "generate $1 x $2, batch 1" "$ours" "$ref"
done

# ---- generation at the memory limit: the machine's read bandwidth (a
# streaming read beyond L2 and beyond L3, cache sizes from sysconf/sysfs),
# then 2 x 512 generation with each weight format, thread count and number
# of samples stepped together; the fraction is the weights' GB/s over the
# bandwidth of the level they come from (beyond L2 when they fit in L3).
gen_line() { # weights threads samples chars
    OPENBLAS_NUM_THREADS=1 "$BUILD/gen_bench" --weights "$1" --threads "$2" --samples "$3" 2 512 "$4"
}
gen_rate() { gen_line "$@" | awk '{print $8}'; }
echo
declare -A bw_l2 bw_l3
for t in $THREADS; do
    line=$("$BUILD/gen_bench" --bandwidth "$t")
    echo "$line"
    bw_l2[$t]=$(sed 's/.*beyond-L2 \([0-9.]*\) GB.*/\1/' <<<"$line")
    bw_l3[$t]=$(sed 's/.*beyond-L3 \([0-9.]*\) GB.*/\1/' <<<"$line")
    l3_kb=$(sed 's/.*L3 \([0-9]*\) KB.*/\1/' <<<"$line")
done
echo "generation kernels: $(gen_line int8 1 1 100 | sed 's/.*(\(.*\) kernels).*/\1/')"
echo
echo "| generate 2 x 512, weights, threads, samples per step | chars/s | weight bytes per char | GB/s of weights | fraction of bandwidth |"
echo "|------------------------------------------------------|---------|-----------------------|-----------------|-----------------------|"
for cfg in "bf16 1 1" "fp32 1 1" "int8 1 1" "int8 2 1" "bf16 1 8" "int8 1 8" "int8 2 8" "int8 2 32"; do
    set -- $cfg
    case " $THREADS " in *" $2 "*) ;; *) continue ;; esac
    rate=$(repeat gen_rate "$1" "$2" "$3" $(( 4000 * $3 )))
    mb=$(gen_line "$1" 1 1 10 | sed 's/.*: \([0-9.]*\) MB per step.*/\1/')
    bw=${bw_l2[$2]}
    awk -v mb="$mb" -v l3="$l3_kb" 'BEGIN {exit !(mb * 1e6 > l3 * 1024)}' && bw=${bw_l3[$2]}
    awk -v w="$1" -v t="$2" -v n="$3" -v r="$rate" -v mb="$mb" -v bw="$bw" 'BEGIN {
        gbs = mb * 1e6 * r / n / 1e9;
        printf "| %-52s | %7.0f | %21.0f | %15.1f | %20.0f%% |\n",
               w ", " t " thread(s), " n, r, mb * 1e6 / n, gbs, 100 * gbs / bw }'
done

# ---- single products of a 2 x 512 step, one thread: where OpenBLAS or oneDNN wins.
echo
echo "Products of a 2 x 512 step (GFLOP/s, 1 thread: OpenBLAS, oneDNN fp32, oneDNN bf16):"
while read -r m n k lay what; do
    printf '  %-18s %s\n' "$what" "$("$BUILD/gen_bench" --mm "$m" "$n" "$k" "$lay" 0.3)"
done <<'PRODUCTS'
32 2048 512 NT recurrent-step
3200 2048 512 NT input-projection
2048 512 3200 TN weight-gradient
3200 512 2048 NN input-gradient
3200 65 512 NT lm-head
PRODUCTS

# ---- training with the products through oneDNN, side by side with PyTorch
# in fp32 and in bf16 (torch.cpu.amp.autocast), batch 32, seq 100.
impl=$(DNNL_VERBOSE=1 "$BUILD/gen_bench" --train 1 256 auto 1 1 32 100 2>&1 |
    awk -F, '/^(dnnl|onednn)_verbose,exec,cpu,matmul/ && !n++ {print $5}') # no early exit: pipefail
echo
echo "Training through oneDNN: auto = $(OPENBLAS_NUM_THREADS=1 "$BUILD/gen_bench" --train 1 256 auto 1 1 32 8 |
    sed 's/.*, \([a-z0-9]*\) (\([a-z0-9_]*\)).*/\1 (oneDNN ISA \2)/'); matmul implementation $impl"
echo
echo "| training, batch 32, seq 100   | OpenBLAS |   fp32 |   auto | PyTorch fp32 | PyTorch bf16 | auto/PT fp32 | auto/PT bf16 |"
echo "|-------------------------------|----------|--------|--------|--------------|--------------|--------------|--------------|"
for t in $THREADS; do
    for cfg in "1 256 30" "2 512 10"; do
        set -- $cfg
        blas=$(repeat ours_prec "$1" "$2" blas "$t" "$3")
        fp32=$(repeat ours_prec "$1" "$2" fp32 "$t" "$3")
        auto=$(repeat ours_prec "$1" "$2" auto "$t" "$3")
        pf="-" pb="-" rf="-" rb="-"
        if [ $have_torch = 1 ]; then
            pf=$(repeat ref_train "$1" "$2" 32 100 "$3" "$t")
            pb=$(repeat ref_train "$1" "$2" 32 100 "$3" "$t" --bf16)
            rf=$(awk -v a="$auto" -v b="$pf" 'BEGIN {printf "%.2fx", a / b}')
            rb=$(awk -v a="$auto" -v b="$pb" 'BEGIN {printf "%.2fx", a / b}')
        fi
        printf '| %-29s | %8.0f | %6.0f | %6.0f | %12s | %12s | %12s | %12s |\n' \
            "$1 x $2, $t thread(s)" "$blas" "$fp32" "$auto" "$pf" "$pb" "$rf" "$rb"
    done
done

# ---- SGEMM ceiling: the GEMMs of one 2 x 512 training step (B=32, T=100,
# E=64, V=65) timed alone with sgemm_bench at this thread count; the fraction
# is (time those GEMMs take at OpenBLAS's own rate) / (our step time).
make -s "$BUILD/sgemm_bench" >/dev/null
gemm_rate() { OPENBLAS_NUM_THREADS=$5 "$BUILD/sgemm_bench" "$1" "$2" "$3" "$4" 0.3 | sed 's/.*med=\([0-9.]*\).*/\1/'; }
echo
echo "SGEMM ceiling for the shapes of a 2 x 512 step (layout M N K count):"
for t in $THREADS; do
    total_flop=0 total_time=0
    while read -r lay m n k count; do
        rate=$(gemm_rate "$m" "$n" "$k" "$lay" "$t")
        flop=$(awk -v m="$m" -v n="$n" -v k="$k" -v c="$count" 'BEGIN {print 2*m*n*k*c}')
        total_flop=$(awk -v a="$total_flop" -v b="$flop" 'BEGIN {print a+b}')
        total_time=$(awk -v a="$total_time" -v f="$flop" -v r="$rate" 'BEGIN {print a + f/(r*1e9)}')
        [ "$t" = "${THREADS%% *}" ] && printf '  %s %5d %5d %5d x%-4d %6.1f GFLOP/s (%s thread)\n' "$lay" "$m" "$n" "$k" "$count" "$rate" "$t"
    done <<'SHAPES'
NT 3200 2048 64 1
NT 32 2048 512 200
NT 3200 2048 512 1
NT 3200 65 512 1
TN 65 512 3200 1
NN 3200 512 65 1
NN 32 512 2048 200
TN 2048 64 3200 1
TN 2048 512 3200 3
NN 3200 64 2048 1
NN 3200 512 2048 1
SHAPES
    ours=$(eval echo "\${train2x512_t$t}")
    awk -v f="$total_flop" -v tt="$total_time" -v c="$ours" -v t="$t" 'BEGIN {
        step = 3200 / c; ceil = f / tt / 1e9;
        printf "  %s thread(s): GEMMs alone %.1f GFLOP/s (%.1f ms/step); charlstm step %.1f ms = %.1f GFLOP/s of GEMM work: %.0f%% of the ceiling\n",
               t, ceil, tt * 1e3, step * 1e3, f / step / 1e9, 100 * tt / step }'
done

# ---- tag and classify as users feed them: batched throughput from a file
# and through a pipe, and the latency a co-process sees (each trains a
# model of its default size for 3 steps: speed depends on size only).
echo
CHARLSTM=$TOOL ./bench/stream_bench.sh tag - "$THREADS"
CHARLSTM=$TOOL ./bench/stream_bench.sh classify - "$THREADS"

# ---- the two tagging speeds of issue 16 item 5 (targets: >= 40,000 words/s
# without LM features, >= 10,000 with them), raw text in, 2 threads, the
# default precision (auto) and fp32 side by side.
echo
CHARLSTM=$TOOL ./bench/tag_speed.sh 2 4 "auto fp32"

# ---- loading a file of many names (duplicate checks must stay linear).
echo
"$BUILD/load_bench" 80000

# ---- memory: RSS must not grow with the corpus.
if [ "${BENCH_MEMORY:-0}" = 1 ]; then
    echo
    big="$OUT/big.txt"
    head -c 1000000 "$DATA/train.txt" > "$OUT/small.txt"
    while [ "$(stat -c %s "$big" 2>/dev/null || echo 0)" -lt 1000000000 ]; do cat "$DATA/train.txt" >> "$big"; done
    for f in "$OUT/small.txt" "$big"; do
        mb=$("$TOOL" train --train "$f" --dev "$OUT/valid.txt" -o "$OUT/mem.model" --layers 1 \
            --hidden 256 --batch 32 --seq 64 --steps 20 --eval-every 0 2>&1 | tr '\r' '\n' |
            awk '/^train chars\/s:/ {print $(NF-1)}')
        printf '  training RSS with a %5.0f MB corpus: %s MB\n' "$(( $(stat -c %s "$f") / 1000000 ))" "$mb"
    done
fi
