#!/usr/bin/env bash
# Open MPI over TCP between two "machines" on one: two network namespaces
# (clmpiA, clmpiB) joined by a veth pair with TEST-NET addresses 192.0.2.1
# and 192.0.2.2, which exist only inside them.  mpirun runs in clmpiA and
# starts rank 1 in clmpiB through bench/netns_agent.sh (in place of ssh);
# shared memory is off, so every byte between the ranks crosses TCP.  Trains
# the same short LM as one local process and compares the validation loss,
# then removes the namespaces.  Root only.
#
#   bench/mpi_netns.sh [MPI_TOOL] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=$(realpath "${1:-build-mpi/charlstm}")
STEPS=${2:-200}
AGENT=$(realpath bench/netns_agent.sh)
OUT=$(mktemp -d /tmp/charlstm-netns-XXXXXX)
[ "$(id -u)" = 0 ] || { echo "mpi_netns: needs root (ip netns)"; exit 1; }
[ -x "$TOOL" ] || { echo "mpi_netns: $TOOL not built (make MPI=1)"; exit 1; }

del_ns() { # deleting a namespace deletes its end of the veth pair, and the pair
    ip netns del clmpiA 2> /dev/null || true
    ip netns del clmpiB 2> /dev/null || true
}
trap 'del_ns; rm -rf "$OUT"' EXIT
del_ns # left over from an interrupted run
ip netns add clmpiA
ip netns add clmpiB
ip link add clvA type veth peer name clvB
ip link set clvA netns clmpiA
ip link set clvB netns clmpiB
ip -n clmpiA addr add 192.0.2.1/24 dev clvA
ip -n clmpiB addr add 192.0.2.2/24 dev clvB
for ns in clmpiA clmpiB; do
    ip -n $ns link set lo up
done
ip -n clmpiA link set clvA up
ip -n clmpiB link set clvB up

cd "$OUT"
. "$OLDPWD/tests/train_data.sh"
make_data
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS=(train --train "$OUT/text.txt" --layers 2 --hidden 24 --emb 8 --batch 4 --seq 16 --dropout 0
      --eval-every 50 --steps "$STEPS" --threads 1 -q)
"$TOOL" "${ARGS[@]}" -o "$OUT/one.model" --log "$OUT/one.tsv"
ip netns exec clmpiA mpirun --mca plm_rsh_agent "$AGENT" --host 192.0.2.1:1,192.0.2.2:1 -np 2 \
    --mca btl tcp,self --mca btl_tcp_if_include 192.0.2.0/24 \
    --mca oob_tcp_if_include 192.0.2.0/24 --mca mpi_yield_when_idle 1 \
    sh -c 'echo "rank $OMPI_COMM_WORLD_RANK in $(ip -br -4 addr | grep -o "192\.0\.2\.[0-9]*")" >&2;
           exec "$0" "$@"' "$TOOL" "${ARGS[@]}" -o "$OUT/two.model" --log "$OUT/two.tsv"
bytes=$(ip netns exec clmpiA cat /sys/class/net/clvA/statistics/tx_bytes)
awk -F'\t' -v bytes="$bytes" 'NR == FNR { a = $7; next } END {
    b = $7; r = (a - b) / a; r = r < 0 ? -r : r
    printf "validation loss after the last step: 1 process %s, 2 ranks over TCP %s (relative %.1e); %.1f MB sent by rank 0 over the veth\n",
        a, b, r, bytes / 1e6 }' one.tsv two.tsv
