#!/usr/bin/env bash
# The installed interface, as a program sees it: charlstm.h compiles with
# only the public headers, the shared library links, and it exports the
# public API and nothing internal.
#   BUILD=build scripts/check_api.sh HEADER...
set -euo pipefail
BUILD=${BUILD:-build}
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include"
cp "$@" "$tmp/include/"
cat > "$tmp/api.c" <<'C'
#include <charlstm.h>
#include <stdio.h>
int main(void)
{
    cl_train_config c = cl_train_defaults();
    printf("%s %g\n", cl_strerror(CL_ENONFINITE), (double)c.lr);
    return 0;
}
C
# SANFLAGS: a program linked against the sanitized library (make check
# SANITIZE=1) must load the sanitizer runtime first, so it is built with them.
# shellcheck disable=SC2086
"$CC" -std=c11 ${SANFLAGS:-} -I"$tmp/include" $(pkg-config --cflags openblas 2>/dev/null) "$tmp/api.c" \
    -L"$BUILD" -lcharlstm -Wl,-rpath,"$PWD/$BUILD" -o "$tmp/api"
"$tmp/api" > /dev/null
exported=$(nm -D --defined-only "$BUILD/libcharlstm.so" | awk '{print $3}')
fail=0
for want in cl_trainer_create cl_model_load cl_strerror cl_tagger_task_create; do
    grep -qx "$want" <<<"$exported" || { echo "check_api: $want is not exported"; fail=1; }
done
# Internal modules (cl_lines, cl_registry) and the tagger's internals stay hidden.
leaked=$(grep -E '^(cl_lines_|cl_registry_|cl_tagger_ws_|cl_tagger_forward)' <<<"$exported" || true)
[ -z "$leaked" ] || { echo "check_api: internal symbols exported:" $leaked; fail=1; }
n=$(wc -l <<<"$exported")
[ $fail = 0 ] && echo "check_api: charlstm.h compiles alone; $n symbols exported, none internal"
exit $fail
