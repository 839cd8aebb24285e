#!/bin/sh
# stream_bench.sh: the line-answering commands (`tag`, `classify`) as a user
# feeds them: batched throughput on a file and through a pipe, and the
# latency a co-process sees.
#
#   bench/stream_bench.sh tag|classify [MODEL] [THREADS="1"] [REPEAT=1]
#
# THREADS is a list of thread counts (--threads), each measured in turn.
#
# Without MODEL (or with MODEL "-") a model of the default size is trained
# for 3 steps from ../shared/data (300 EWT sentences for the tagger, at
# --hidden 200 as docs/tagger.md's recipe; 1,000 MR lines for the
# classifier): speed depends on a model's size, not on what it learned.
#
# Throughput: tag reads the EWT dev sentences REPEAT times as raw text lines
# (tokenizer included) and as CoNLL-U (gold words), words counted in the
# output; classify reads the MR dev texts REPEAT times, lines counted.  Each
# input is read from a file, then once more through a pipe (the reader cuts
# a batch when the pipe runs dry: batching must survive streaming).
# Latency: bench/coproc_latency.py writes a line (tag --input conllu: a
# sentence) and reads its answer, 200 times.  About 15 s of CPU time per
# command (tag, REPEAT=1, one thread count).
set -eu
cmd=${1:-}
model=${2:--}
thread_counts=${3:-1}
repeat=${4:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
tool=${CHARLSTM:-$here/build/charlstm}
data=${BENCH_SHARED:-$here/../shared/data}
case $cmd in
tag) train=ud-en-ewt/train.conllu dev=ud-en-ewt/dev.conllu ;;
classify) train=mr/train.tsv dev=mr/dev.tsv ;;
*) echo "usage: bench/stream_bench.sh tag|classify [MODEL] [THREADS] [REPEAT]" >&2; exit 2 ;;
esac
for f in "$train" "$dev"; do
    [ -f "$data/$f" ] || { echo "stream_bench: $data/$f not found, skipped" >&2; exit 0; }
done
tmp=$(mktemp -d /tmp/charlstm-stream-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ "$model" = - ]; then
    model=$tmp/bench.model
    if [ "$cmd" = tag ]; then
        awk 'BEGIN {RS = ""; ORS = "\n\n"} NR <= 300' "$data/$train" > "$tmp/train"
        "$tool" train --task tagger --train "$tmp/train" -o "$model" --hidden 200 --steps 3 -q
    else
        head -n 1000 "$data/$train" > "$tmp/train"
        "$tool" train --task classifier --train "$tmp/train" -o "$model" --steps 3 -q
    fi
fi

i=0
while [ $i -lt "$repeat" ]; do
    if [ "$cmd" = tag ]; then
        sed -n 's/^# text = //p' "$data/$dev" >> "$tmp/in.text"
        cat "$data/$dev" >> "$tmp/in.conllu"
    else
        cut -f2- "$data/$dev" >> "$tmp/in.text"
    fi
    i=$((i + 1))
done

# run FORMAT HOW: one pass over the input; prints the rate
run() {
    set -- "$1" "$2" "$tmp/in.$1"
    args="--threads $threads"
    [ "$cmd" = tag ] && args="$args --input $1 --output tags"
    t0=$(date +%s.%N)
    if [ "$2" = pipe ]; then
        cat "$3" | "$tool" "$cmd" -m "$model" $args > "$tmp/out"
    else
        "$tool" "$cmd" -m "$model" $args < "$3" > "$tmp/out"
    fi
    t1=$(date +%s.%N)
    if [ "$cmd" = tag ]; then n=$(wc -w < "$tmp/out") unit=words; else n=$(wc -l < "$tmp/out") unit=lines; fi
    awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$cmd" -v f="$1" -v h="$2" -v th="$threads" -v u="$unit" \
        'BEGIN { printf "%-8s %-6s from a %-4s threads %d: %7d %s in %5.2f s = %6.0f %s/s\n", c, f, h, th, n, u, b - a, n / (b - a), u }'
}
formats=text
[ "$cmd" = tag ] && formats="text conllu"
for threads in $thread_counts; do
    for fmt in $formats; do
        run "$fmt" file
        run "$fmt" pipe
    done
    command -v python3 >/dev/null || continue
    "$here/bench/coproc_latency.py" 200 "$tool" "$cmd" -m "$model" --threads "$threads"
    if [ "$cmd" = tag ]; then
        "$here/bench/coproc_latency.py" --conllu "$data/$dev" 200 "$tool" tag -m "$model" \
            --threads "$threads" --input conllu
    fi
done
