#!/bin/sh
# Bounded fuzz pass over the GGUF reader: scripts/fuzz_run.sh SECONDS
# Runs build-fuzz/fuzz_gguf (built by `make fuzz`) on a temporary copy of
# fuzz/corpus (the seed corpus in the repo stays unchanged). Exits non-zero
# if libFuzzer finds a crash, leak, timeout or OOM; the reproducer is kept
# in build-fuzz/artifacts/.
set -u
SECONDS_TO_RUN=${1:-60}
BIN=build-fuzz/fuzz_gguf
[ -x "$BIN" ] || { echo "fuzz_run: $BIN not built (run: make fuzz)" >&2; exit 2; }
[ -d fuzz/corpus ] || { echo "fuzz_run: fuzz/corpus missing (run: python3 scripts/make_fuzz_corpus.py)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
cp fuzz/corpus/* "$work/" 2>/dev/null
mkdir -p build-fuzz/artifacts
"$BIN" "$work" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 >"$work/log" 2>&1
rc=$?
tail -n 25 "$work/log"
if [ $rc -ne 0 ]; then
    echo "fuzz_run: FAILED (rc=$rc); reproducer in build-fuzz/artifacts/" >&2
    exit 1
fi
echo "fuzz_run: no crash in ${SECONDS_TO_RUN}s"
