#!/usr/bin/env bash
# Exact resume, end to end: an uninterrupted run and one interrupted by
# SIGINT in the middle, then resumed with `--resume MODEL.last -o MODEL` and
# no other option, must leave byte-identical files (cmp).
#
#   tests/train_resume.sh CHARLSTM DIR TASK THREADS
#
# TASK is lm, tagger or classifier; the data are made here.  Prints what it
# checked and exits non-zero on the first difference.
set -euo pipefail
B=$1 D=$2 TASK=$3 THREADS=$4
mkdir -p "$D"
cd "$D"

make_data() {
    awk 'BEGIN { srand(7); split("the a one my his her", det); split("cat dog nation motion man", n);
         split("walked opened slept ran sat", v); split("quickly slowly badly well", adv);
         for (i = 0; i < 400; i++) printf "%s %s %s %s.\n", det[int(rand()*6)+1], n[int(rand()*5)+1],
             v[int(rand()*5)+1], adv[int(rand()*4)+1] }' > text.txt
    awk '{ printf "# text = %s\n", $0; sub(/\.$/, " ."); n = split($0, w, " ");
           t[1] = "DET"; t[2] = "NOUN"; t[3] = "VERB"; t[4] = "ADV"; t[5] = "PUNCT";
           for (i = 1; i <= n; i++) printf "%d\t%s\t_\t%s\t_\t_\t_\t_\t_\t_\n", i, w[i], t[i];
           printf "\n" }' <(head -n 120 text.txt) > text.conllu
    awk 'BEGIN { srand(3); split("good fine great nice", g); split("bad awful poor dull", b) }
         { l = rand() < 0.5; printf "%s\t%s %s\n", l ? "pos" : "neg", $0, l ? g[int(rand()*4)+1] : b[int(rand()*4)+1] }' \
        text.txt > text.tsv
}

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
echo "$TASK: interrupted at step $step with $THREADS thread(s), resumed: files identical"
