#!/usr/bin/env bash
# --precision reaches every task's products: for lm, tagger and classifier,
# a few steps in fp32 twice give the same file (the products are
# deterministic), and in bf16 a different one (its rounding shows in the
# weights).  On a CPU without bf16, --precision bf16 must be refused.
#
#   tests/train_precision.sh CHARLSTM DIR HAS_BF16
set -euo pipefail
B=$1 D=$2 HAS_BF16=$3
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$D"
cd "$D"
. "$HERE/train_data.sh" # make_data
make_data

for task in lm tagger classifier; do
    case $task in
    lm) ARGS=(--train text.txt --layers 2 --hidden 24 --emb 8 --batch 4 --seq 16 --steps 5) ;;
    tagger) ARGS=(--train text.conllu --hidden 16 --emb 8 --batch 8 --steps 5) ;;
    classifier) ARGS=(--train text.tsv --hidden 16 --emb 8 --batch 8 --steps 5 --ngram-bits 10) ;;
    esac
    "$B" train --task $task "${ARGS[@]}" --precision fp32 -q -o $task-a.model
    "$B" train --task $task "${ARGS[@]}" --precision fp32 -q -o $task-b.model
    cmp $task-a.model $task-b.model
    if [ "$HAS_BF16" = 1 ]; then
        "$B" train --task $task "${ARGS[@]}" --precision bf16 -q -o $task-h.model
        if cmp -s $task-a.model $task-h.model; then
            echo "$task: bf16 trained the same weights as fp32: its products did not change"
            exit 1
        fi
        echo "$task: fp32 twice identical, bf16 different"
    else
        if "$B" train --task $task "${ARGS[@]}" --precision bf16 -q -o $task-h.model 2> err; then
            echo "$task: --precision bf16 accepted on a CPU without bf16"; exit 1
        fi
        grep -q "neither AMX nor AVX512-BF16" err || { cat err; exit 1; }
        echo "$task: fp32 twice identical, bf16 refused (no bf16 here)"
    fi
done
