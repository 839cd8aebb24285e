#!/usr/bin/env bash
# make mutation: plant each bug of tests/mutation/mutations.txt, one at a
# time, in a copy of the tree, run the test suite on it, and print the score.
#
#   scripts/mutation.sh [ID...]      all mutations, or only those named
#
# A mutation is KILLED when some suite fails (or hangs past the timeout),
# SURVIVED when the whole suite passes; STALE when its text is no longer in
# the file (update the list), INVALID when the mutant does not build.  The
# score is killed / (killed + survived).  The copy lives in a temporary
# directory and is built in $BUILD (default build-mut), so the tree you work
# in is never touched.  Suites run one at a time and the first failure ends
# a mutant's run; a survivor costs one whole `make check`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIST=${MUTATIONS:-$ROOT/tests/mutation/mutations.txt}
BUILD=${BUILD:-build-mut}
TIMEOUT=${MUTATION_TIMEOUT:-900}       # seconds per suite run
# Suites that kill most mutants quickly go first; the others follow.
FIRST=${MUTATION_FIRST:-"gradcheck stats torch_parity head_gradcheck trainer_parity"}

WORK=$(mktemp -d /tmp/charlstm-mutation-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ -z "${CHARLSTM_SHARED_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
    export CHARLSTM_SHARED_DATA="$ROOT/../shared/data" # the copy has no ../shared
fi
export OPENBLAS_NUM_THREADS=1 CK_DEFAULT_TIMEOUT=600

# ---- the list -----------------------------------------------------------------

ids=() descs=() files=() finds=() repls=()
n=-1 mode=
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
    "@ "*)
        n=$((n + 1)) mode=
        rest=${line#@ }
        ids[n]=${rest%% *}
        descs[n]=$(echo "${rest#"${ids[n]}"}" | sed 's/^ *//')
        files[n]= finds[n]= repls[n]=
        ;;
    "file: "*) files[n]=${line#file: } ;;
    -*)
        [ "$mode" = find ] && finds[n]+=$'\n'
        mode=find
        finds[n]+=${line:1}
        ;;
    +*)
        [ "$mode" = repl ] && repls[n]+=$'\n'
        mode=repl
        repls[n]+=${line:1}
        ;;
    esac
done <"$LIST"
total=$((n + 1))

wanted() { # is mutation $1 among the command-line arguments (or are there none)?
    [ $# -eq 1 ] && return 0
    local id=$1
    shift
    for a in "$@"; do [ "$a" = "$id" ] && return 0; done
    return 1
}

# ---- the copy and its baseline ---------------------------------------------------

(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) |
    tar -xf - -C "$WORK"
echo "mutation: building a copy of the tree in $WORK/$BUILD"
make -C "$WORK" -s -j2 BUILD="$BUILD" all "$BUILD/check_charlstm" >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log"; echo "mutation: the tree does not build" >&2; exit 1; }
suites=$(grep -ho 'suite_create("[a-z0-9_]*")' "$WORK"/tests/*.c | sed 's/.*("\(.*\)")/\1/')
order=""
for s in $FIRST; do echo "$suites" | grep -qx "$s" && order+=" $s"; done
for s in $suites; do case " $order " in *" $s "*) ;; *) order+=" $s" ;; esac; done

run_suites() { # 0 if every suite passes, else 1 with the failing suite in $killer
    for s in $order; do
        if ! (cd "$WORK" && timeout "$TIMEOUT" "$BUILD/check_charlstm" "$s") >"$WORK/test.log" 2>&1
        then
            killer=$s
            return 1
        fi
    done
    return 0
}
echo "mutation: running the suite without mutations"
run_suites || { cat "$WORK/test.log"; echo "mutation: suite $killer fails unmutated" >&2; exit 1; }

# ---- the mutants -------------------------------------------------------------------

killed=0 survived=0 stale="" invalid="" survivors=""
for ((i = 0; i < total; i++)); do
    wanted "${ids[i]}" "$@" || continue
    f="$WORK/${files[i]}"
    tag=$(printf '[%2d/%d] %-30s' $((i + 1)) "$total" "${ids[i]}")
    count=$( [ -f "$f" ] && FIND="${finds[i]}" perl -0777 -ne '$n = () = /\Q$ENV{FIND}\E/g; print $n' "$f" || echo 0)
    if [ "$count" != 1 ]; then
        echo "$tag STALE (found $count times in ${files[i]})"
        stale+=" ${ids[i]}"
        continue
    fi
    cp "$f" "$f.orig"
    FIND="${finds[i]}" REPL="${repls[i]}" perl -0777 -i -pe 's/\Q$ENV{FIND}\E/$ENV{REPL}/' "$f"
    if ! make -C "$WORK" -s -j2 BUILD="$BUILD" all "$BUILD/check_charlstm" >"$WORK/build.log" 2>&1; then
        echo "$tag INVALID (does not build)"
        invalid+=" ${ids[i]}"
    elif run_suites; then
        echo "$tag SURVIVED  ${descs[i]}"
        survived=$((survived + 1)) survivors+=" ${ids[i]}"
    else
        echo "$tag killed by $killer"
        killed=$((killed + 1))
    fi
    cp "$f.orig" "$f" # a new mtime: the next build recompiles it
    rm -f "$f.orig"
done

tried=$((killed + survived))
echo
if [ "$tried" -gt 0 ]; then
    echo "mutation score: $killed of $tried killed ($((100 * killed / tried)) %)"
fi
[ -z "$survivors" ] || echo "survived:$survivors"
[ -z "$stale" ] || echo "stale (text not found, update $LIST):$stale"
[ -z "$invalid" ] || echo "invalid (do not build):$invalid"
