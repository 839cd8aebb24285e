#!/bin/sh
# Install what charlstm needs to build and test, from Debian's packages.
# Run as root (or with sudo available).  Safe to run again.
set -eu
PKGS="build-essential pkg-config libopenblas-dev libutf8proc-dev libpcre2-dev zlib1g-dev libdnnl-dev libcjson-dev check"
# Open MPI: data-parallel training (make MPI=1; make check runs the MPI tests with it).
PKGS="$PKGS libopenmpi-dev openmpi-bin"
# The Python package (python/, make python) and its tests; python3-torch for
# the PyTorch export/import tests (they skip, saying so, without it); pip and
# wheel for the test that pip-installs it against an installed library.
PKGS="$PKGS python3-dev python3-setuptools python3-cffi python3-numpy python3-pytest python3-torch"
PKGS="$PKGS python3-pip python3-wheel"
# charlstm serve (libmicrohttpd), its page compiled in (xxd), its checks and bench.
PKGS="$PKGS libmicrohttpd-dev xxd curl chromium wrk"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all present ($PKGS)"; exit 0; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
