#!/bin/sh
# tag_speed.sh: words per second of `charlstm tag` from raw text (the
# tokenizer included), for a tagger without LM features and one with them
# (`train --task tagger --init LM`), the two speeds of issue 16 item 5, and
# one reading a forward and a backward LM of the size `make pretrain` trains.
#
#   bench/tag_speed.sh [THREADS=2] [REPEAT=4] [PRECISIONS="auto"]
#
# The models are the documented recipes' sizes trained for 3 steps from
# ../shared/data (speed depends on size, not on what a model learned): the
# tagger --hidden 200 (docs/tagger.md's recipe), the LM 1 x 256 with --emb
# 32 (the LM docs/tagger.md's LM-feature recipe reads).  The input is the EWT
# dev sentences' raw text REPEAT times (25,147 words each time); words are
# counted in the output.  Each precision is measured in turn.
set -eu
threads=${1:-2}
repeat=${2:-4}
precisions=${3:-auto}
here=$(cd "$(dirname "$0")/.." && pwd)
tool=${CHARLSTM:-$here/build/charlstm}
data=${BENCH_SHARED:-$here/../shared/data}/ud-en-ewt
for f in train.conllu dev.conllu; do
    [ -f "$data/$f" ] || { echo "tag_speed: $data/$f not found, skipped" >&2; exit 0; }
done
tmp=$(mktemp -d /tmp/charlstm-tag-speed-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

awk 'BEGIN {RS = ""; ORS = "\n\n"} NR <= 300' "$data/train.conllu" > "$tmp/train.conllu"
sed -n 's/^# text = //p' "$tmp/train.conllu" > "$tmp/lm.txt"
"$tool" train --task lm --layers 1 --hidden 256 --emb 32 --steps 3 --batch 8 --seq 50 \
    --eval-every 0 -o "$tmp/lm.model" -q "$tmp/lm.txt"
"$tool" train --task tagger --train "$tmp/train.conllu" --hidden 200 --steps 3 \
    -o "$tmp/nolm.model" -q
"$tool" train --task tagger --init "$tmp/lm.model" --train "$tmp/train.conllu" --hidden 200 \
    --steps 3 -o "$tmp/lm-tagger.model" -q
# Flair's two directions: the 1 x 512 forward and backward LMs of `make
# pretrain` (docs/language-model.md), read for every word
"$tool" train --task lm --direction both --layers 1 --hidden 512 --emb 64 --steps 3 --batch 8 \
    --seq 50 --eval-every 0 -o "$tmp/lm2.model" -q "$tmp/lm.txt"
"$tool" train --task tagger --init "$tmp/lm2.model" --train "$tmp/train.conllu" --hidden 200 \
    --steps 3 -o "$tmp/lm2-tagger.model" -q
i=0
while [ $i -lt "$repeat" ]; do
    sed -n 's/^# text = //p' "$data/dev.conllu" >> "$tmp/in.txt"
    i=$((i + 1))
done

# rate NAME MODEL PRECISION: one pass over the input
rate() {
    t0=$(date +%s.%N)
    "$tool" tag -m "$2" --threads "$threads" --precision "$3" < "$tmp/in.txt" > "$tmp/out"
    t1=$(date +%s.%N)
    awk -v n="$(wc -w < "$tmp/out")" -v a="$t0" -v b="$t1" -v name="$1" -v p="$3" -v th="$threads" \
        'BEGIN { printf "tag from raw text, %-31s %-4s %d thread(s): %7d words in %6.2f s = %6.0f words/s\n", name, p, th, n, b - a, n / (b - a) }'
}
for p in $precisions; do
    rate "tagger without LM" "$tmp/nolm.model" "$p"
    rate "tagger with LM features" "$tmp/lm-tagger.model" "$p"
    rate "tagger, 2 x 512 LMs (pretrain)" "$tmp/lm2-tagger.model" "$p"
done
