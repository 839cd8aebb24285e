#!/usr/bin/env bash
# Data-parallel training end to end, with the MPI build of charlstm:
#   1. two ranks train the same model as one process (dropout 0): the
#      validation loss after 200 LM steps, and the classifier's, agree to a
#      relative 1e-4 (only the order of float sums differs) in fp32 (in bf16
#      the classifier's differed by 2e-4: the tolerance is fp32's; 1b checks
#      the default precision, bit for bit); the gradient
#      sums started bucket by bucket during backward (26 floats a bucket)
#      give the same file as one sum after it;
#   1b. --deterministic: two ranks write the same model file, byte for byte,
#      as one process (dropout on; default precision: bf16 where the CPU has
#      it), for the LM (one direction and both), the classifier (4 shares:
#      two per rank) and the tagger; a run resumed under mpirun too;
#   2. a run stopped at a step limit and resumed under mpirun leaves the same
#      files, byte for byte, as an uninterrupted one; one process refuses to
#      resume it;
#   3. a --batch that does not divide among the ranks is refused;
#   4. a rank killed mid-run ends the job within 30 s, and the files it
#      leaves resume.
#
#   tests/train_mpi.sh CHARLSTM_MPI DIR
set -euo pipefail
B=$1 D=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$D"
cd "$D"
. "$HERE/train_data.sh" # make_data
make_data

# Root in containers and CI; two ranks on however few cores; no busy waiting
# that would slow down the other rank on a loaded machine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 -np 2)

# The last validation loss of a --log file.
last_valid() { tail -n 1 "$1" | cut -f 7; }

close_enough() { # name a b
    awk -v a="$2" -v b="$3" -v n="$1" 'BEGIN { r = (a - b) / a; r = r < 0 ? -r : r;
        printf "%s: 1 process %s, 2 ranks %s (relative %.1e)\n", n, a, b, r; exit !(r < 1e-4) }'
}

LM=(--task lm --train text.txt --layers 2 --hidden 24 --emb 8 --batch 4 --seq 16 --dropout 0
    --eval-every 50 --threads 1)
"$B" train "${LM[@]}" --steps 200 --precision fp32 -q -o one.model --log one.tsv
"${MPIRUN[@]}" "$B" train "${LM[@]}" --steps 200 --precision fp32 -q -o two.model --log two.tsv
close_enough "lm, 200 steps" "$(last_valid one.tsv)" "$(last_valid two.tsv)"

CLF=(--task classifier --train text.tsv --hidden 16 --emb 8 --batch 8 --epochs 2 --dropout 0
     --ngram-bits 10 --ngram-dropout 0 --threads 1)
"$B" train "${CLF[@]}" --precision fp32 -q -o c1.model --log c1.tsv
"${MPIRUN[@]}" "$B" train "${CLF[@]}" --precision fp32 -q -o c2.model --log c2.tsv
close_enough "classifier, 2 epochs" "$(last_valid c1.tsv)" "$(last_valid c2.tsv)"

"${MPIRUN[@]}" "$B" train "${LM[@]}" --steps 60 --bucket-mb 0.0001 -q -o bucket.model
"${MPIRUN[@]}" "$B" train "${LM[@]}" --steps 60 --bucket-mb 0 -q -o after.model
cmp bucket.model after.model
"${MPIRUN[@]}" "$B" train "${LM[@]}" --direction both --steps 30 --bucket-mb 0.0001 -q -o bboth.model
"${MPIRUN[@]}" "$B" train "${LM[@]}" --direction both --steps 30 --bucket-mb 0 -q -o aboth.model
cmp bboth.model aboth.model
"${MPIRUN[@]}" "$B" train "${CLF[@]}" --bucket-mb 0.0001 -q -o cbucket.model
"${MPIRUN[@]}" "$B" train "${CLF[@]}" --bucket-mb 0 -q -o cafter.model
cmp cbucket.model cafter.model
echo "sums in buckets during backward = one sum after it: files identical (lm, both LMs, classifier)"

# 1b. --deterministic: bit for bit (dropout on: every share has its own)
same_bits() { # name shares options...
    local name=$1 n=$2
    shift 2
    "$B" train "$@" --deterministic "$n" -q -o "det1-$name.model"
    "${MPIRUN[@]}" "$B" train "$@" --deterministic "$n" -q -o "det2-$name.model"
    cmp "det1-$name.model" "det2-$name.model"
    echo "--deterministic $n, $name: 1 process and 2 ranks wrote identical files"
}
same_bits lm 2 "${LM[@]}" --dropout 0.2 --steps 100
same_bits lm-both 2 "${LM[@]}" --direction both --dropout 0.2 --steps 40
same_bits classifier 4 "${CLF[@]}" --dropout 0.2
same_bits tagger 2 --task tagger --train text.conllu --hidden 16 --emb 8 \
    --batch 8 --epochs 2 --threads 1
DET=("${LM[@]}" --dropout 0.2 --eval-every 20 --deterministic 4)
"${MPIRUN[@]}" "$B" train "${DET[@]}" --steps 30 -q -o dcut.model
"${MPIRUN[@]}" "$B" train --resume dcut.model.last --steps 60 -q -o dcut.model 2> /dev/null
"$B" train "${DET[@]}" --steps 60 -q -o dfull.model
cmp dfull.model dcut.model
echo "--deterministic 4: 2 ranks stopped at step 30 and resumed = 1 process: files identical"
if "${MPIRUN[@]}" "$B" train "${LM[@]}" --deterministic 3 --steps 2 -q -o odd.model > odd.err 2>&1
then
    echo "--deterministic 3 on 2 ranks was accepted"; exit 1
fi
grep -q "the 2 processes do not divide it" odd.err || { cat odd.err; exit 1; }
echo "--deterministic 3 on 2 ranks: refused"

# 2. resume under mpirun (dropout on: every rank's random state is kept)
RES=("${LM[@]}" --dropout 0.2 --eval-every 20)
"${MPIRUN[@]}" "$B" train "${RES[@]}" --steps 80 -q -o full.model
"${MPIRUN[@]}" "$B" train "${RES[@]}" --steps 40 -q -o cut.model
"${MPIRUN[@]}" "$B" train --resume cut.model.last --steps 80 -q -o cut.model 2> /dev/null
cmp full.model cut.model
cmp full.model.last cut.model.last
echo "resume under mpirun: stopped at step 40 of 80, resumed: files identical"
if "$B" train --resume full.model.last --steps 100 -q -o one-of-two.model 2> refuse.err; then
    echo "one process resumed a run of two"; exit 1
fi
grep -q "ran as 2 processes, this one as 1" refuse.err || { cat refuse.err; exit 1; }

# 3. a batch that does not divide
if "${MPIRUN[@]}" "$B" train "${LM[@]}" --batch 5 --steps 2 -q -o odd.model > odd.err 2>&1; then
    echo "--batch 5 on 2 ranks was accepted"; exit 1
fi
grep -q "does not divide into 2 equal shares" odd.err || { cat odd.err; exit 1; }
echo "--batch 5 on 2 ranks: refused"

# 4. a rank dies: the job ends in bounded time, the files are intact
"${MPIRUN[@]}" "$B" train "${RES[@]}" --steps 1000000 -q -o dead.model 2> dead.err &
pid=$!
for _ in $(seq 1 1000); do [ -f dead.model.last ] && break; sleep 0.02; done
rank1=$(pgrep -P "$pid" | tail -n 1)
[ -n "$rank1" ] || { echo "no rank to kill"; exit 1; }
kill -KILL "$rank1"
t0=$SECONDS
( sleep 30; kill -KILL "$pid" 2> /dev/null ) &
guard=$!
rc=0; wait "$pid" || rc=$?
kill "$guard" 2> /dev/null || true
waited=$((SECONDS - t0))
[ "$rc" != 0 ] && [ "$waited" -lt 30 ] || { echo "killed rank: rc $rc after ${waited}s"; exit 1; }
step=$("$B" info dead.model.last | awk '$1 == "step" { print $2; exit }')
"${MPIRUN[@]}" "$B" train --resume dead.model.last --steps $((${step:-0} + 10)) -q -o dead.model \
    2> /dev/null
echo "a killed rank ended the job in ${waited}s (exit $rc); its files resumed"
