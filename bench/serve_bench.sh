#!/usr/bin/env bash
# serve_bench.sh: `charlstm serve` under load, with wrk against 127.0.0.1 only.
#
#   bench/serve_bench.sh            (make bench runs it; make bench-serve alone)
#
# Builds a model with all three heads (a 2 x 512 LSTM language model, the
# default tagger and classifier on top, a few training steps each: speed does
# not depend on what the weights learned) from ../shared/data, starts the
# server on a free loopback port with 2 threads, and for /tag (one EWT
# sentence) and /classify (one MR sentence) at 1, 8 and 64 connections runs
# wrk for SERVE_BENCH_SECONDS (5) each: requests per second and p50/p99
# latency.  Then more /classify requests until 100,000 were served in all,
# and the server's RSS before and after.  Prints one Markdown table.
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

m=$OUT/all.model
q="-q --threads 2"
echo "serve_bench: building a model with lm, tagger and classifier heads..." >&2
# The first 300 EWT sentences and 1,000 MR lines: enough for the tag set and
# the labels; the heads' sizes are the default recipe's either way.
awk 'BEGIN {RS = ""; ORS = "\n\n"} NR <= 300' "$DATA/ud-en-ewt/train.conllu" > "$OUT/train.conllu"
head -n 1000 "$DATA/mr/train.tsv" > "$OUT/train.tsv"
"$TOOL" train --train "$DATA/tinyshakespeare/train.txt" -o "$m" --layers 2 --hidden 512 \
    --emb 64 --steps 3 $q
"$TOOL" train --task tagger --init "$m" -o "$m" --train "$OUT/train.conllu" --steps 3 $q
"$TOOL" train --task classifier --init "$m" --freeze -o "$m" --train "$OUT/train.tsv" --steps 3 $q

"$TOOL" serve -m "$m" --port 0 --threads 2 > "$OUT/serve.out" 2> "$OUT/serve.err" &
pid=$!
for _ in $(seq 100); do grep -q http "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$OUT/serve.out")
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
run() { # endpoint lua connections seconds -> "req/s p50 p99 requests errors"
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
# Soak: /classify at 64 connections until 100,000 requests in all (at most 120 s).
t0=$SECONDS
while [ "$total" -lt 100000 ] && [ $((SECONDS - t0)) -lt 120 ]; do
    read -r _ _ _ n _ < <(run classify "$OUT/clf.lua" 64 10)
    total=$((total + n))
done
rss2=$(rss)
health=$(curl -s "$url/health")
echo
echo "RSS of the server: ${rss0} kB before the load, ${rss1} kB after the table's runs, ${rss2} kB after $total requests in all."
echo "Batches (GET /health): $health"
