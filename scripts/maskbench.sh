#!/bin/sh
# MaskBench summary for the grammar engine: runs `pagoda schema-test` over
# the shared MaskBench files with the GPT-2 and Falcon vocabularies and
# prints the status counts and mask/compile percentiles of each.
#   scripts/maskbench.sh [EVERY_NTH [WHITESPACE]]
# EVERY_NTH=1 (default) runs all files; 20 runs every 20th file (a quick
# look). Per-file JSON lines go to build/maskbench-VOCAB.jsonl.
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
nth=${1:-1}
ws=${2:-compact}
[ -d "$TD/maskbench" ] || { echo "no $TD/maskbench"; exit 1; }
files=$(ls "$TD"/maskbench/*.json | awk -v n="$nth" 'NR % n == 0')
mkdir -p build
for v in gpt-2 falcon; do
    echo "== $v (every ${nth}th file, whitespace $ws)"
    # shellcheck disable=SC2086
    "$BIN" schema-test --vocab "$TD/tokenizer/ggml-vocab-$v.gguf" --whitespace "$ws" --json --summary $files \
        >"build/maskbench-$v.jsonl" || exit 1
    tail -n 1 "build/maskbench-$v.jsonl"
done
