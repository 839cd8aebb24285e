#!/bin/sh
# The main job, end to end on a fresh machine: build, fetch a real corpus,
# train a character language model for a few minutes, generate from a prompt.
#   MINUTES=3 ./scripts/demo.sh         (the default is 3 minutes of training)
set -eu
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-3}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 1)}
make -s all
./corpora/get.sh nlp-corpus
DATA=corpora/data/nlp-corpus
mkdir -p build/demo
echo "== training a 1 x 512 LSTM on $DATA/train.txt for $MINUTES minutes ($THREADS threads)"
./build/charlstm train --train "$DATA/train.txt" --dev "$DATA/valid.txt" \
    -o build/demo/en.model --layers 1 --hidden 512 --emb 64 --batch 32 --seq 100 \
    --dropout 0.1 --min-count 20 --minutes "$MINUTES" --eval-every 0 --threads "$THREADS" \
    --log build/demo/en.tsv
echo "== model"
./build/charlstm info build/demo/en.model | head -4
echo "== generating from the prompt 'The meaning of life is'"
./build/charlstm generate -m build/demo/en.model --prompt "The meaning of life is" \
    -n 400 --temperature 0.8
