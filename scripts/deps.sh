#!/bin/sh
# Install the Debian packages the build and tests need, if missing.
set -e
PKGS="gcc make pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libmicrohttpd-dev clang libclang-rt-14-dev nodejs npm python3 python3-jsonschema chromium haproxy kubernetes-client curl"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# nodejs/npm may come from elsewhere than dpkg: accept working binaries.
case "$missing" in *nodejs*) command -v node >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ nodejs//');; esac
case "$missing" in *npm*) command -v npm >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ npm//');; esac
# kubectl may come from the upstream "kubectl" package instead of Debian's
# kubernetes-client (they conflict): accept a working kubectl.
case "$missing" in *kubernetes-client*) command -v kubectl >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ kubernetes-client//');; esac
if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
