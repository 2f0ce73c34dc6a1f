#!/bin/sh
# server_misc.test.sh - issue 20's server items end to end:
#  - a second `pagoda serve` on a busy port fails with one line, non-zero;
#  - GET /v1/models/{id} (SDK models.retrieve), CORS, HEAD (node/misc.test.mjs);
#  - dropped requests are logged with the tokens produced, ttft_s and the
#    status the client saw (200 for a started stream, 499 when nothing was
#    sent); libmicrohttpd's own messages arrive in the JSON log format;
#  - the README's endpoint list names every route of src/server/http.c.
. "$(dirname "$0")/server_lib.sh"

fail=0
start_server "$TMP/s.log" -m "$MODEL" --threads 2 --log-format json --cors-origin http://allowed.example || exit 1
PORT=${URL##*:}
echo "server at $URL"

# busy port: one line on stderr, exit 1, the first server unaffected
"$BIN" serve -m "$MODEL" --host 127.0.0.1 --port "$PORT" --log-level error >"$TMP/busy.out" 2>"$TMP/busy.err"
rc=$?
if [ $rc -eq 0 ] || [ "$(wc -l <"$TMP/busy.err")" -ne 1 ] || ! grep -q 'Address already in use' "$TMP/busy.err"; then
    echo "FAIL: second server on port $PORT: rc=$rc, stderr:"; cat "$TMP/busy.err"; fail=1
else echo "ok: busy port -> $(cat "$TMP/busy.err")"; fi
grep -q listening "$TMP/busy.out" && { echo "FAIL: the second server said listening"; fail=1; }

PAGODA_URL=$URL PAGODA_MODEL=stories260K node --test --test-concurrency=1 tests/node/misc.test.mjs >"$TMP/node.out" 2>&1 || fail=1
cat "$TMP/node.out"
chunks=$(grep -o 'DROP_STREAM_CHUNKS=[0-9]*' "$TMP/node.out" | head -1 | cut -d= -f2)
stop_server || fail=1

# the log: every line JSON (besides the listening line), the drop lines right
node - "$TMP/s.log" "${chunks:-0}" <<'JS' || fail=1
const fs = require('fs');
const [file, chunks] = [process.argv[2], Number(process.argv[3])];
let bad = 0, stream = null, plain = null, httpd = 0;
for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
  if (!l || l.startsWith('pagoda: listening')) continue;
  let o;
  try { o = JSON.parse(l); } catch { console.log('FAIL: not a JSON log line: ' + l); bad++; continue; }
  if (o.component === 'httpd') httpd++;
  if (o.request_id === 'drop-stream') stream = o;
  if (o.request_id === 'drop-plain') plain = o;
}
const ok = (c, m) => { if (!c) { console.log('FAIL: ' + m); bad++; } else console.log('ok: ' + m); };
ok(stream, 'the dropped stream is logged');
ok(plain, 'the dropped request is logged');
if (stream) {
  ok(stream.status === 200 && stream.client_gone === true, `stream: status 200 (sent), client_gone (${JSON.stringify(stream)})`);
  ok(stream.completion_tokens >= chunks && chunks >= 40, `stream: completion_tokens ${stream.completion_tokens} >= ${chunks} chunks received`);
  ok(typeof stream.ttft_s === 'number' && stream.ttft_s > 0, 'stream: ttft_s logged');
  // 'abort' when every choice's cancellation arrived before the log line
  ok(stream.finish_reason === 'disconnect' || stream.finish_reason === 'abort', `stream: finish_reason ${stream.finish_reason}`);
}
if (plain) {
  ok(plain.status === 499 && plain.client_gone === true, `plain: status 499 (${JSON.stringify(plain)})`);
  ok(plain.completion_tokens > 0 && typeof plain.ttft_s === 'number', 'plain: tokens produced before the drop and ttft_s');
}
ok(httpd >= 1, `libmicrohttpd messages in the JSON log (${httpd} line(s) with component "httpd")`);
process.exit(bad ? 1 : 0);
JS

# README endpoint list <-> routing table
routes=$(sed -n '/^const route srv_routes\[\] = {/,/^};/p' src/server/http_routes.c | grep -o '{"/[^"]*", "[A-Z]*"' | sed 's/{"\([^"]*\)", "\([A-Z]*\)"/\2 \1/; s/\/$/\/{id}/')
[ -n "$routes" ] || { echo "FAIL: no routes found in src/server/http_routes.c"; fail=1; }
echo "$routes" | while read -r m p; do
    grep -q "^| \`$m $p\` |" README.md || { echo "FAIL: README endpoint list has no row | \`$m $p\` |"; exit 1; }
done || fail=1
n_readme=$(sed -n '/^#### Endpoint list/,/^\*\*CORS/p' README.md | grep -c '^| `[A-Z]* /')
n_routes=$(echo "$routes" | wc -l)
[ "$n_readme" -eq "$n_routes" ] || { echo "FAIL: README lists $n_readme endpoints, srv_routes[] has $n_routes"; fail=1; }

[ $fail -eq 0 ] && echo "server_misc tests passed"
exit $fail
