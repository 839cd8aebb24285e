#!/usr/bin/env bash
# serve_bench.sh: `charlstm serve` under load, with wrk against 127.0.0.1 only.
#
#   bench/serve_bench.sh            (make bench runs it; make bench-serve alone)
#
# Builds a model with all three heads (a 2 x 512 LSTM language model, the
# default tagger and classifier on top, a few training steps each: speed does
# not depend on what the weights learned) from ../shared/data, or takes
# SERVE_BENCH_MODEL; starts the server (its defaults) on a free loopback
# port, and for /tag (one EWT sentence) and /classify (one MR sentence) at 1,
# 8 and 64 connections runs wrk for SERVE_BENCH_SECONDS (5) each: requests
# per second and p50/p99 latency, RSS before and after.  Then a soak for
# leaks: a 1 x 64 model, /tag and /classify in turn until 100,000 requests
# (at most 180 s), RSS before and after.  Prints a Markdown table and lines.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
TOOL=$BUILD/charlstm
SECS=${SERVE_BENCH_SECONDS:-5}
DATA=${BENCH_SHARED:-../shared/data}
command -v wrk >/dev/null || { echo "serve_bench: wrk is not installed (make deps)"; exit 1; }
for f in tinyshakespeare/train.txt ud-en-ewt/train.conllu ud-en-ewt/dev.conllu mr/train.tsv; do
    [ -f "$DATA/$f" ] || { echo "serve_bench: $DATA/$f not found, skipped"; exit 0; }
done
OUT=$(mktemp -d /tmp/charlstm-serve-bench-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$OUT"; }
trap cleanup EXIT

# build_model OUT LAYERS HIDDEN: a model with all three heads.  The first
# 300 EWT sentences and 1,000 MR lines give the tag set and the labels; the
# heads' sizes are the default recipe's either way.
build_model() {
    local q="-q --threads 2"
    "$TOOL" train --train "$DATA/tinyshakespeare/train.txt" -o "$1" --layers "$2" --hidden "$3" \
        --emb 64 --steps 3 $q
    "$TOOL" train --task tagger --init "$1" -o "$1" --train "$OUT/train.conllu" --steps 3 $q
    "$TOOL" train --task classifier --init "$1" --freeze -o "$1" --train "$OUT/train.tsv" --steps 3 $q
}
awk 'BEGIN {RS = ""; ORS = "\n\n"} NR <= 300' "$DATA/ud-en-ewt/train.conllu" > "$OUT/train.conllu"
head -n 1000 "$DATA/mr/train.tsv" > "$OUT/train.tsv"
m=${SERVE_BENCH_MODEL:-$OUT/all.model}
if [ -z "${SERVE_BENCH_MODEL:-}" ]; then
    echo "serve_bench: building a 2 x 512 model with lm, tagger and classifier heads..." >&2
    build_model "$m" 2 512
fi

start() { # model -> pid, url
    "$TOOL" serve -m "$1" --port 0 > "$OUT/serve.out" 2> "$OUT/serve.err" &
    pid=$!
    for _ in $(seq 100); do grep -q http "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$OUT/serve.out")
}
start "$m"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

# One request body per endpoint, from the data (JSON-escaped by sed).
tag_text=$(sed -n 's/^# text = //p' "$DATA/ud-en-ewt/dev.conllu" | sed -n 5p)
clf_text=$(cut -f2 "$DATA/mr/train.tsv" | sed -n 7p)
esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
lua() { # file body
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "$2" > "$1"
}
lua "$OUT/tag.lua" "{\"text\": \"$(esc "$tag_text")\"}"
lua "$OUT/clf.lua" "{\"texts\": [\"$(esc "$clf_text")\"]}"
curl -sf "$url/tag" --data-binary @<(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$OUT/tag.lua") > /dev/null
curl -sf "$url/classify" --data-binary @<(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$OUT/clf.lua") > /dev/null

rss0=$(rss)
total=0
# Requests whose client has gone (wrk stops at its time limit) are still
# answered: wait for them before the next run, so one run does not slow the next.
idle() { for _ in $(seq 600); do curl -s "$url/health" | grep -q '"active":1,' && return; sleep 0.2; done; }
run() { # endpoint lua connections seconds -> "req/s p50 p99 requests errors"
    idle
    wrk -t "$(( $3 < 2 ? 1 : 2 ))" -c "$3" -d "${4}s" --latency -s "$2" "$url/$1" > "$OUT/wrk.txt"
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         / requests in / {n=$1} /Non-2xx|Socket errors/ {err=err $0 ";"}
         END {printf "%s %s %s %s %s\n", rps, p50, p99, n, (err == "" ? "none" : err)}' "$OUT/wrk.txt"
}
echo "| endpoint | connections | requests/s | p50 | p99 | requests | errors |"
echo "|---|---:|---:|---:|---:|---:|---|"
for ep in tag classify; do
    s=$OUT/tag.lua; [ $ep = classify ] && s=$OUT/clf.lua
    for c in 1 8 64; do
        read -r rps p50 p99 n err < <(run "$ep" "$s" "$c" "$SECS")
        total=$((total + n))
        echo "| /$ep | $c | $rps | $p50 | $p99 | $n | $err |"
    done
done
rss1=$(rss)
health=$(curl -s "$url/health")
kill "$pid"; wait "$pid" 2>/dev/null || true
echo
echo "RSS of the server: ${rss0} kB after the first requests, ${rss1} kB after the table's $total."
echo "Batches (GET /health): $health"

# Soak, for leaks: a small model (1 x 64), /classify and /tag in turn at 64
# connections until 100,000 requests were answered (at most 180 s).
echo "serve_bench: soak with a 1 x 64 model..." >&2
build_model "$OUT/small.model" 1 64
start "$OUT/small.model"
for ep in tag classify; do
    s=$OUT/tag.lua; [ $ep = classify ] && s=$OUT/clf.lua
    curl -sf "$url/$ep" --data-binary @<(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$s") > /dev/null
done
soak0=$(rss) n_soak=0 t0=$SECONDS
while [ "$n_soak" -lt 100000 ] && [ $((SECONDS - t0)) -lt 180 ]; do
    for ep in tag classify; do
        s=$OUT/tag.lua; [ $ep = classify ] && s=$OUT/clf.lua
        read -r _ _ _ n _ < <(run "$ep" "$s" 64 10)
        n_soak=$((n_soak + n))
    done
done
echo "Soak (1 x 64 model): RSS ${soak0} kB after the first requests, $(rss) kB after $n_soak more requests ($((SECONDS - t0)) s)."
