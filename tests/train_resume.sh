#!/usr/bin/env bash
# Exact resume, end to end: an uninterrupted run and one interrupted by
# SIGINT in the middle, then resumed with `--resume MODEL.last -o MODEL` and
# no other option, must leave byte-identical files (cmp).
#
#   tests/train_resume.sh CHARLSTM DIR TASK THREADS [PRECISION]
#
# TASK is lm, tagger or classifier; the data are made here.  PRECISION is
# given as --precision to the first runs only (the resumed one must keep it
# from MODEL.last); default: none, i.e. auto (bf16 where the CPU has it).
# Prints what it checked and exits non-zero on the first difference.
set -euo pipefail
B=$1 D=$2 TASK=$3 THREADS=$4 PREC=${5:-}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$D"
cd "$D"

. "$HERE/train_data.sh" # make_data
[ -n "$PREC" ] && ARGS+=(--precision "$PREC")

case $TASK in
lm) ARGS=(--task lm --train text.txt --layers 2 --hidden 24 --emb 8 --batch 4 --seq 16
          --dropout 0.2 --steps 900 --eval-every 40 --lr 3e-3 --lr-decay 0.9 --decay-every 100) ;;
tagger) ARGS=(--task tagger --train text.conllu --hidden 16 --emb 8 --batch 8 --epochs 6) ;;
classifier) ARGS=(--task classifier --train text.tsv --hidden 16 --emb 8 --batch 8 --epochs 12
                  --ngram-bits 10) ;;
*) echo "unknown task $TASK"; exit 2 ;;
esac
make_data

"$B" train "${ARGS[@]}" --threads "$THREADS" -q -o full.model

# The same run, interrupted once its first .last exists (a step in the middle).
"$B" train "${ARGS[@]}" --threads "$THREADS" -q -o cut.model 2> cut.err &
pid=$!
for _ in $(seq 1 400); do [ -f cut.model.last ] && break; sleep 0.01; done
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
if [ "$rc" != 130 ]; then
    echo "$TASK: the interrupted run exited $rc, not 130 (interrupted): too fast to interrupt?"
    cat cut.err; exit 1
fi
grep -q "resume with: charlstm train --resume cut.model.last -o cut.model" cut.err || {
    echo "$TASK: no resume hint"; cat cut.err; exit 1; }
step=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' cut.err)
"$B" train --resume cut.model.last -o cut.model -q
cmp full.model cut.model
cmp full.model.last cut.model.last
echo "$TASK: interrupted at step $step with $THREADS thread(s), precision ${PREC:-auto}," \
     "resumed: files identical"
