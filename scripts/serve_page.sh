#!/bin/sh
# Load a page of `charlstm serve` in headless Chromium, as a person's browser
# would (scripts run, responses stream), with a fresh profile and nothing
# fetched but the page's own server.
#   serve_page.sh dom URL          the DOM after the page settled, on stdout
#   serve_page.sh shot URL FILE    a PNG screenshot into FILE
# URL can press the page's buttons: /?prompt=TEXT&text=TEXT&run=generate,score
# (see tools/serve_page.html); SERVE_PAGE_WINDOW=W,H sets the window (1000,760).
# Exit 3 when Chromium is not installed.
set -eu
command -v chromium >/dev/null 2>&1 || { echo "serve_page.sh: chromium is not installed" >&2; exit 3; }
mode=$1 url=$2 file=${3:-}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
set -- --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-extensions \
    --user-data-dir="$profile" --virtual-time-budget=15000 --window-size="${SERVE_PAGE_WINDOW:-1000,760}"
case $mode in
dom) timeout 120 chromium "$@" --dump-dom "$url" 2>/dev/null ;;
shot) timeout 120 chromium "$@" --hide-scrollbars --screenshot="$file" "$url" >/dev/null 2>&1 ;;
*) echo "usage: serve_page.sh dom URL | shot URL FILE" >&2; exit 2 ;;
esac
