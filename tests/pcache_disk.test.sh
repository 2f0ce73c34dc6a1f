#!/bin/sh
# The prefix cache on disk through the server (issue 26): a server stopped
# with SIGTERM leaves its cached blocks in --prefix-cache-dir; after a
# restart the same requests (completions, chat, streamed) report their
# cached tokens in usage.prompt_tokens_details and give the same texts;
# other keys and cache_salts do not hit (tests/node/pcache_disk.mjs).
# Truncated, corrupted and foreign (another model's) files are removed and
# never used; --prefix-cache-disk bounds the files (LRU); a second server
# on the same directory and bad flag values are refused with a message.
. "$(dirname "$0")/server_lib.sh"
fail=0
PC="$TMP/pc"
STATE="$TMP/state.json"
export PAGODA_URL
run_node() { PAGODA_URL=$URL timeout 120 node tests/node/pcache_disk.mjs "$@" || { echo "FAIL: pcache_disk.mjs $1"; fail=1; }; }
nfiles() { ls "$1" 2>/dev/null | grep -c '\.kvb$'; }
metric() { curl -s "$URL/metrics" | grep "^pagoda:$1{" | sed "s/.* //"; }

# 1. cold, stop (blocks written), restart, warm
start_server "$TMP/s1.log" -m "$MODEL" --prefix-cache-dir "$PC" --api-key key-one --api-key key-two || exit 1
run_node cold "$STATE"
stop_server || fail=1
n=$(nfiles "$PC")
[ "$n" -ge 20 ] && echo "ok: $n block files after shutdown" || { echo "FAIL: $n block files after shutdown"; fail=1; }
grep -q "written to disk at shutdown" "$TMP/s1.log" || { echo "FAIL: no shutdown write logged"; fail=1; }
[ "$(stat -c %a "$PC")" = 700 ] || { echo "FAIL: $PC is not mode 700"; fail=1; }

# a second server on the same directory is refused
start_server "$TMP/s2.log" -m "$MODEL" --prefix-cache-dir "$PC" --api-key key-one --api-key key-two || exit 1
"$BIN" serve -m "$MODEL" --port 0 --prefix-cache-dir "$PC" >"$TMP/lock.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "in use by another process" "$TMP/lock.log" && echo "ok: a second server on the directory is refused" \
    || { echo "FAIL: a second server on the directory: rc $rc"; cat "$TMP/lock.log"; fail=1; }
run_node warm "$STATE"
h=$(metric prefix_cache_disk_hits_total)
[ "${h:-0}" -gt 0 ] && echo "ok: $h disk hits on /metrics" || { echo "FAIL: no disk hits on /metrics"; fail=1; }
stop_server || fail=1

# 2. invalid files: a foreign model's files (a copy of the model with one
#    byte changed: same geometry, another identity), truncated and
#    corrupted files
cp "$MODEL" "$TMP/other.gguf"
size=$(stat -c %s "$TMP/other.gguf")
printf '\001' | dd of="$TMP/other.gguf" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
start_server "$TMP/s3.log" -m "$TMP/other.gguf" --prefix-cache-dir "$TMP/pc-other" || exit 1
curl -s "$URL/v1/completions" -H 'content-type: application/json' \
    -d '{"prompt":"Once upon a time there was a little girl named Lily. She liked to play in the park with her friend Tom. Once upon a time there was a little girl named Lily.","max_tokens":8}' >/dev/null
stop_server || fail=1
# damage three of this model's own files first (the foreign ones are
# counted on their own; their names sort anywhere among these)
set -- "$PC"/*.kvb
truncate -s 100 "$1"; T1=$1
printf 'garbage' | dd of="$2" bs=1 seek=200 conv=notrunc 2>/dev/null; C1=$2
sz=$(stat -c %s "$3")
printf '\377\377' | dd of="$3" bs=1 seek=$((sz - 2)) conv=notrunc 2>/dev/null
nf=0
for f in "$TMP"/pc-other/*.kvb; do cp "$f" "$PC/"; nf=$((nf + 1)); done
[ $nf -gt 0 ] || { echo "FAIL: the other model wrote no files"; fail=1; }
before=$(nfiles "$PC")
start_server "$TMP/s4.log" -m "$MODEL" --prefix-cache-dir "$PC" --api-key key-one --api-key key-two || exit 1
inv=$(sed -n 's/.*MiB, \([0-9]*\) invalid removed.*/\1/p' "$TMP/s4.log")
after=$(nfiles "$PC")
[ "${inv:-0}" -ge $((nf + 1)) ] && echo "ok: $inv invalid files removed at start ($nf foreign, 1 truncated, header damage)" \
    || { echo "FAIL: ${inv:-?} invalid files removed at start, want >= $((nf + 1))"; fail=1; }
[ ! -e "$T1" ] || { echo "FAIL: the truncated file is still there"; fail=1; }
for f in "$TMP"/pc-other/*.kvb; do
    [ ! -e "$PC/$(basename "$f")" ] || { echo "FAIL: a foreign file is still there"; fail=1; }
done
[ $((before - after)) -eq "${inv:-0}" ] || { echo "FAIL: $before files before, $after after, $inv removed"; fail=1; }
run_node same "$STATE"
inv2=$(metric prefix_cache_disk_invalid_files_total)
echo "invalid files on /metrics: $inv2"
[ "${inv2:-0}" -ge "${inv:-0}" ] || { echo "FAIL: /metrics invalid files ${inv2:-?}"; fail=1; }
stop_server || fail=1

# 3. the size bound: 64 KiB holds 6 stories260K block files (10,432 bytes)
start_server "$TMP/s5.log" -m "$MODEL" --prefix-cache-dir "$TMP/pc-small" --prefix-cache-disk 64K \
    --api-key key-one --api-key key-two || exit 1
PAGODA_URL=$URL timeout 120 node tests/node/pcache_disk.mjs cold "$TMP/state2.json" >/dev/null || { echo "FAIL: small cold"; fail=1; }
ev=$(metric prefix_cache_disk_evicted_files_total)
stop_server || fail=1
n=$(nfiles "$TMP/pc-small")
bytes=$(cat "$TMP"/pc-small/*.kvb | wc -c)
[ "$n" -le 6 ] && [ "$n" -ge 1 ] && [ "$bytes" -le 65536 ] && echo "ok: $n files, $bytes bytes within 64 KiB" \
    || { echo "FAIL: $n files, $bytes bytes for a 64 KiB bound"; fail=1; }

# 4. bad flags
"$BIN" serve -m "$MODEL" --prefix-cache-dir "$TMP/x" --prefix-cache-disk lots >"$TMP/bad.log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "prefix-cache-disk: 'lots' is not a size" "$TMP/bad.log" && echo "ok: bad size refused" \
    || { echo "FAIL: bad size: rc $rc"; cat "$TMP/bad.log"; fail=1; }
"$BIN" serve -m "$MODEL" --port 0 --prefix-cache-dir /proc/pagoda-no >"$TMP/bad2.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "prefix cache: cannot create /proc/pagoda-no" "$TMP/bad2.log" && echo "ok: unusable directory refused" \
    || { echo "FAIL: unusable directory: rc $rc"; cat "$TMP/bad2.log"; fail=1; }

[ $fail -eq 0 ] && echo "pcache_disk tests passed"
exit $fail
