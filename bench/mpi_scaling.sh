#!/usr/bin/env bash
# make bench (with MPI built): data-parallel scaling on this machine.  For a
# 1 x 256 and a 2 x 512 LM, training throughput (chars/s, the global batch
# of every rank counted) of
#   one process, one thread | one process, --threads 2 | mpirun -np 2 --bind-to core, --threads 1
# measured in turn, in one run, so that the ratios compare like with like on a
# loaded machine; plus the bytes all-reduced per step (4 per trained weight)
# and the share of the 2 ranks' step time spent waiting for those sums (they
# run in buckets during backward; "after" is the same with --bucket-mb 0, one
# sum after backward).
#
#   MPI_TOOL=build-mpi/charlstm  BENCH_DATA=DIR  BENCH_RUNS=3  MPI_STEPS_SCALE=1
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=${MPI_TOOL:-build-mpi/charlstm}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-../shared/data/tinyshakespeare}
SCALE=${MPI_STEPS_SCALE:-1}
OUT=$(mktemp -d /tmp/charlstm-mpibench-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
[ -x "$TOOL" ] || { echo "mpi bench: $TOOL not built (make MPI=1)"; exit 0; }
[ -f "$DATA/train.txt" ] || { echo "mpi bench: $DATA/train.txt not found (set BENCH_DATA)"; exit 1; }
head -c 20000 "$DATA/valid.txt" > "$OUT/valid.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }

train() { # launcher... -- layers hidden steps threads
    local pre=()
    while [ "$1" != "--" ]; do pre+=("$1"); shift; done
    shift
    "${pre[@]}" "$TOOL" train --train "$DATA/train.txt" --dev "$OUT/valid.txt" -o "$OUT/m.model" \
        --layers "$1" --hidden "$2" --emb 64 --batch 32 --seq 100 --steps "$3" --threads "$4" \
        --eval-every 0 --dropout 0 --seed 1 "${@:5}" 2>&1 | tr '\r' '\n' |
        awk '/^train chars\/s:/ {c = $3} /^waiting for the gradient sums/ {w = $(NF-5)}
             END {print c, (w == "" ? "-" : w)}'
}

trained_floats() { "$TOOL" info "$OUT/m.model" | awk '/parameters/ {for (i = 1; i <= NF; i++) if ($(i+1) == "parameters") print $i; exit}'; }

echo "data-parallel scaling, $(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median of $RUNS runs; chars/s of training steps (higher is better); batch 32 x seq 100"
echo
echo "| model   | weights | MB/step | 1 proc, 1 thr | 1 proc, 2 thr | 2 ranks x 1 thr | 2 ranks / 1 thr | 2 ranks / 2 thr | waiting, buckets | waiting, after |"
echo "|---------|---------|---------|---------------|---------------|-----------------|-----------------|-----------------|------------------|----------------|"
model=()
col() { cut -d' ' -f"$1" | median; } # field of the runs' "chars/s waiting%" lines
for cfg in "1 256 $((20 * SCALE))" "2 512 $((6 * SCALE))"; do
    set -- $cfg
    a=() b=() c=() e=()
    mpi=(mpirun -np 2 --bind-to core --mca mpi_yield_when_idle 1)
    for _ in $(seq "$RUNS"); do # interleaved: each round sees the same load
        a+=("$(train -- "$1" "$2" "$3" 1)")
        b+=("$(train -- "$1" "$2" "$3" 2)")
        c+=("$(train "${mpi[@]}" -- "$1" "$2" "$3" 1)")
        e+=("$(train "${mpi[@]}" -- "$1" "$2" "$3" 1 --bucket-mb 0)")
    done
    one=$(printf '%s\n' "${a[@]}" | col 1) two=$(printf '%s\n' "${b[@]}" | col 1)
    mpi=$(printf '%s\n' "${c[@]}" | col 1) n=$(trained_floats)
    wb=$(printf '%s\n' "${c[@]}" | col 2) wa=$(printf '%s\n' "${e[@]}" | col 2)
    model+=("$1 x $2" "$n" "$(awk -v a="$one" 'BEGIN { print 3200 / a }')")
    awk -v l="$1" -v h="$2" -v n="$n" -v a="$one" -v b="$two" -v c="$mpi" -v wb="$wb" -v wa="$wa" 'BEGIN {
        printf "| %d x %-3d | %7.2fM | %7.1f | %13.0f | %13.0f | %15.0f | %14.0f%% | %14.0f%% | %15.1f%% | %13.1f%% |\n",
            l, h, n / 1e6, 4 * n / 1e6, a, b, c, 100 * c / (2 * a), 100 * c / b, wb, wa }'
done
echo
echo "2 ranks / 1 thr: scaling efficiency, throughput of 2 ranks over twice that of one"
echo "process with one thread; 2 ranks / 2 thr: 2 ranks against one process with 2 threads;"
echo "waiting: share of the 2 ranks' training-step time spent waiting for the gradient sums,"
echo "started in buckets during backward (the default) or as one sum after it (--bucket-mb 0)."

if command -v python3 > /dev/null; then
    echo
    echo "The cost at scale (docs/scale-out.md): ring all-reduce efficiency with the step times above"
    echo "(one process, one thread, batch 32 x 100 per rank)"
    echo
    python3 bench/cost_model.py "${model[@]}"
fi
