#!/usr/bin/env bash
# make quality: the long quality checks of docs/ on ../shared/data, each with
# its recipe and its target.  Tens of minutes each: not part of CI.
#   QUALITY="lm tagger tagger_lm classifier classifier_cv"   which ones (default: all;
#                                    tagger_lm runs `make pretrain` first when
#                                    build/pretrain/both.model is missing)
#   THREADS=2                        threads for training
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SHARED_DATA:-../shared/data}
B=./build/charlstm
OUT=build/quality
THREADS=${THREADS:-2}
mkdir -p "$OUT"
status=0

check() { # name value op target
    if awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN {exit !(op == "<=" ? v <= t : v >= t)}'; then
        echo "quality $1: $2 (target $3 $4): PASS"
    else
        echo "quality $1: $2 (target $3 $4): FAIL"; status=1
    fi
}

need() { [ -f "$1" ] || { echo "quality: $1 not found (set SHARED_DATA)"; exit 1; }; }

lm() { # docs/language-model.md: tiny-shakespeare, <= 1.42 nats/char in 30 minutes (issue 16)
    need "$D/tinyshakespeare/train.txt"
    "$B" train --train "$D/tinyshakespeare/train.txt" --dev "$D/tinyshakespeare/valid.txt" \
        -o "$OUT/shakespeare.model" --layers 2 --hidden 768 --emb 64 --batch 32 --seq 100 \
        --dropout 0.4 --weight-drop 0.25 --state-reset 0.02 --ema 0.999 --lr 2e-3 \
        --lr-decay 0.9 --decay-every 500 --steps 4800 --minutes 30 --eval-every 250 \
        --threads "$THREADS" --log "$OUT/shakespeare.tsv"
    v=$("$B" eval -m "$OUT/shakespeare.model" "$D/tinyshakespeare/valid.txt" | awk '$1 == "nats/char" {print $2}')
    check "lm (tiny-shakespeare valid, nats/char)" "$v" "<=" 1.42
    # nanoGPT's protocol (random 256-character windows from a zero state) for the comparison with its 1.4697
    w=$("$B" eval -m "$OUT/shakespeare.model" --windows 12800 --threads "$THREADS" \
        "$D/tinyshakespeare/valid.txt" | awk '$1 == "nats/char" {print $2}')
    echo "quality lm: nanoGPT's protocol (12,800 windows of 256): $w nats/char (nanoGPT: 1.4697)"
    "$B" generate -m "$OUT/shakespeare.model" --prompt "ROMEO:" -n 300 --temperature 0.8
}

# seeds NAME TARGET FLAGS...: the tagger recipe FLAGS over TAGGER_SEEDS on EWT,
# scored on EWT dev (gold tokens) and on Brown (out of domain, its own
# tokenisation), the target on the mean over seeds.
seeds() {
    local name=$1 target=$2
    shift 2
    need "$D/ud-en-ewt/train.conllu"
    local accs=() brown=corpora/data/brown/brown-upos-valid.conllu
    for seed in ${TAGGER_SEEDS:-1 2 3}; do
        "$B" train --task tagger --train "$D/ud-en-ewt/train.conllu" --dev "$D/ud-en-ewt/dev.conllu" \
            -o "$OUT/$name-$seed.model" --seed "$seed" --threads "$THREADS" "$@"
        "$B" eval -m "$OUT/$name-$seed.model" "$D/ud-en-ewt/dev.conllu" > "$OUT/$name-$seed.dev"
        accs+=("$(awk '/^UPOS accuracy/ {sub("%", "", $3); print $3}' "$OUT/$name-$seed.dev")")
        echo "quality $name: seed $seed: ${accs[-1]} %, $(grep '^unseen' "$OUT/$name-$seed.dev")"
        if [ -f "$brown" ]; then
            "$B" eval -m "$OUT/$name-$seed.model" "$brown" > "$OUT/$name-$seed.brown"
            echo "quality $name: seed $seed: Brown $(awk '/^UPOS accuracy/ {print $3}' "$OUT/$name-$seed.brown")"
        fi
    done
    read -r v sd n < <(printf '%s\n' "${accs[@]}" | awk '{s += $1; q += $1 * $1; n++}
        END {m = s / n; printf "%.2f %.2f %d\n", m, (n > 1 ? sqrt((q - n * m * m) / (n - 1)) : 0), n}')
    echo "quality $name: mean $v %, sd $sd over $n seeds"
    check "$name (EWT dev UPOS, %, mean over seeds)" "$v" ">=" "$target"
}

tagger() { # docs/tagger.md: EWT dev UPOS accuracy, mean of seeds 1-3 >= 95.4 % (gold tokens)
    # One seed is one draw: the recipe's seeds spread over 95.3-95.5 %
    # (docs/tagger.md, "The recipe over seeds"), so the target is on the mean.
    # shellcheck disable=SC2086
    seeds pos 95.4 ${TAGGER_FLAGS:-}
}

tagger_lm() { # docs/tagger.md: with the LMs of make pretrain, issue 16's 96.0 % (mean of 3 seeds)
    local lm=${PRETRAINED:-build/pretrain/both.model}
    [ -f "$lm" ] || MINUTES=${PRETRAIN_MINUTES:-75} ./scripts/pretrain.sh
    # shellcheck disable=SC2086
    seeds pos-lm 96.0 --init "$lm" ${TAGGER_FLAGS:-}
}

classifier() { # docs/classifier.md: MR dev accuracy >= 80 %
    need "$D/mr/train.tsv"
    "$B" train --task classifier --train "$D/mr/train.tsv" --dev "$D/mr/dev.tsv" \
        -o "$OUT/mr.model" --casefold --bidir --layers 1 --hidden 128 --emb 32 --dropout 0.3 --epochs 14 \
        --patience 4 --threads "$THREADS" ${CLASSIFIER_FLAGS:-}
    v=$("$B" eval -m "$OUT/mr.model" "$D/mr/dev.tsv" | awk '$1 == "accuracy" {print $2 * 100}')
    check "classifier (MR dev accuracy, %)" "$v" ">=" 80
}

classifier_cv() { # docs/classifier.md: 10-fold CV over MR train + dev (9,662 sentences), mean >= 81 %
    # The standard MR protocol; each fold stops early on a tenth of its own
    # training part, never on the fold it is scored on.
    need "$D/mr/train.tsv"
    "$B" train --task classifier --train "$D/mr/train.tsv" --train "$D/mr/dev.tsv" --cv 10 \
        --threads "$THREADS" -q ${CLASSIFIER_FLAGS:-} | tee "$OUT/mr-cv.txt"
    v=$(awk '$1 == "accuracy" {print $2}' "$OUT/mr-cv.txt")
    check "classifier (MR 10-fold CV accuracy, %, mean)" "$v" ">=" 81
}

for q in ${QUALITY:-lm tagger tagger_lm classifier classifier_cv}; do
    if declare -F "$q" >/dev/null; then "$q"; else echo "quality: no check named $q"; fi
done
exit $status
