#!/bin/sh
# reliability.test.sh - issue 29: bounded memory per request, bounded
# template work, slow and half-closed clients, smuggling shapes. One check
# per finding, raw sockets from python3 (tests/reliability.py), servers on
# stories260K over loopback; every figure printed. Skips (77) without the
# test data, the binary or python3.
cd "$(dirname "$0")/.." || exit 1
BIN=${PAGODA_BIN:-build/pagoda}
DATA=${PAGODA_TESTDATA:-../shared}
MODEL="$DATA/models/stories260K.gguf"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: test data absent ($MODEL)"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
exec python3 tests/reliability.py "$BIN" "$MODEL"
