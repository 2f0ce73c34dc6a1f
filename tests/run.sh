#!/bin/sh
# Runs every test binary in $BUILD/tests and every tests/*.test.sh script.
# Prints one line per test and a closing "N passed, N failed, N skipped".
BUILD=${BUILD:-build}
export PAGODA_BIN="$PWD/$BUILD/pagoda"
export PAGODA_BUILD="$PWD/$BUILD"
pass=0; fail=0; skip=0; failed=""
logdir="$BUILD/test-logs"; mkdir -p "$logdir"
for t in "$BUILD"/tests/test_* tests/*.test.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.d) continue;; esac
    name=$(basename "$t")
    start=$(date +%s)
    if [ "${t%.sh}" != "$t" ]; then sh "$t" >"$logdir/$name.log" 2>&1; rc=$?
    else "$t" >"$logdir/$name.log" 2>&1; rc=$?; fi
    dur=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "PASS $name (${dur}s)"
    elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "SKIP $name: $(grep -m1 SKIP "$logdir/$name.log")"
    else fail=$((fail+1)); failed="$failed $name"; echo "FAIL $name (rc=$rc, ${dur}s)"; tail -n 30 "$logdir/$name.log" | sed 's/^/    /'; fi
done
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
