#!/bin/sh
# tag_bench.sh: tagging speed of `charlstm tag` in words per second.
#
#   bench/tag_bench.sh MODEL [THREADS=1] [REPEAT=4]
#
# Input: the EWT dev sentences (../shared/data/ud-en-ewt/dev.conllu) REPEAT
# times, once as raw text lines (tokenizer included) and once as CoNLL-U
# (gold words); the output is discarded.  Words are counted in the output.
# Then the raw text once more through a pipe (the reader cuts a batch when
# the pipe runs dry, so this shows batching survives streaming), and the
# latency a co-process sees: a line written, its tags read back, one at a
# time (bench/coproc_latency.py).
set -eu
model=$1
threads=${2:-1}
repeat=${3:-4}
here=$(cd "$(dirname "$0")/.." && pwd)
tool=${CHARLSTM:-$here/build/charlstm}
dev=${EWT_DEV:-$here/../shared/data/ud-en-ewt/dev.conllu}
[ -f "$dev" ] || { echo "tag_bench: $dev not found, skipped" >&2; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ $i -lt "$repeat" ]; do
    sed -n 's/^# text = //p' "$dev" >> "$tmp/in.txt"
    cat "$dev" >> "$tmp/in.conllu"
    i=$((i + 1))
done
run() { # format file -> words/s
    "$tool" tag -m "$model" --threads "$threads" --input "$1" --output tags < "$2" > "$tmp/out"
}
run_pipe() { # format file: the input through a pipe
    cat "$2" | "$tool" tag -m "$model" --threads "$threads" --input "$1" --output tags > "$tmp/out"
}
for fmt in text conllu text-pipe; do
    f=$tmp/in.txt; [ $fmt = conllu ] && f=$tmp/in.conllu
    how=run; [ $fmt = text-pipe ] && how=run_pipe
    t0=$(date +%s.%N); $how "${fmt%-pipe}" "$f"; t1=$(date +%s.%N)
    words=$(wc -w < "$tmp/out")
    awk -v w="$words" -v a="$t0" -v b="$t1" -v f="$fmt" -v th="$threads" \
        'BEGIN { printf "tag --input %-9s threads %d: %d words in %.2f s = %.0f words/s\n", f, th, w, b - a, w / (b - a) }'
done
if command -v python3 >/dev/null; then
    "$here/bench/coproc_latency.py" 200 "$tool" tag -m "$model" --threads "$threads"
fi
