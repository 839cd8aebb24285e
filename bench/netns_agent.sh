#!/bin/sh
# Open MPI's remote launcher (plm_rsh_agent) for bench/mpi_netns.sh: in place
# of ssh, run the command in the network namespace that holds the address.
# Open MPI calls it as: AGENT [ssh-style options] HOST COMMAND...
while [ "${1#-}" != "$1" ]; do shift; done
host=$1
shift
case $host in
192.0.2.1) ns=clmpiA ;;
192.0.2.2) ns=clmpiB ;;
*) echo "netns_agent: $host is not one of the two test namespaces" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" /bin/sh -c "$*"
