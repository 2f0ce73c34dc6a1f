#!/bin/sh
# webui.test.sh - the built-in web UI in headless Chromium (Debian's
# chromium, scripted with npm's puppeteer-core: tests/node/webui.test.mjs)
# against `pagoda serve -m stories260K.gguf` on a loopback port; then
# --no-webui turns the pages off. Screenshots: $PAGODA_BUILD/webui-*.png.
# Skips (77) without chromium, node, npm packages or the test data.
. "$(dirname "$0")/server_lib.sh"

CHROME=${PAGODA_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROME" ] || { echo "SKIP: chromium is not installed (scripts/deps.sh installs it)"; exit 77; }
if [ ! -f tests/node/node_modules/puppeteer-core/package.json ]; then
    command -v npm >/dev/null 2>&1 || { echo "SKIP: npm is not installed (needed once for puppeteer-core)"; exit 77; }
    echo "installing puppeteer-core into tests/node/node_modules"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) || { echo "SKIP: npm ci failed (offline?)"; exit 77; }
fi
OUT=${PAGODA_BUILD:-$ROOT/build}
mkdir -p "$OUT"

start_server "$TMP/server.log" -m "$MODEL" || exit 1
timeout 170 node tests/node/webui.test.mjs "$URL" "$CHROME" "$OUT"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: webui.test.mjs exited with $rc; server log:"
    tail -n 40 "$TMP/server.log"
    exit 1
fi
stop_server || exit 1

# keys: the pages load without one; the API key entered in the chat's
# settings and the metrics key entered in the dashboard unlock the rest
start_server "$TMP/server3.log" -m "$MODEL" --api-key sk-webui-test --metrics-key mk-webui-test || exit 1
timeout 90 node tests/node/webui.test.mjs "$URL" "$CHROME" "$OUT" auth sk-webui-test mk-webui-test || {
    echo "FAIL: webui.test.mjs (auth) failed; server log:"; tail -n 20 "$TMP/server3.log"; exit 1; }
stop_server || exit 1

# --no-webui: the pages are gone (404), the API and /v1/stats stay
start_server "$TMP/server2.log" -m "$MODEL" --no-webui || exit 1
node -e '
const u = process.argv[1];
const st = async (p) => (await fetch(u + p)).status;
(async () => {
  const got = [await st("/"), await st("/dashboard"), await st("/webui/chat.js"), await st("/v1/stats"), await st("/v1/models")];
  if (got.join() !== "404,404,404,200,200") { console.log("FAIL: --no-webui statuses", got.join()); process.exit(1); }
  console.log("--no-webui: / /dashboard /webui/chat.js -> 404; /v1/stats /v1/models -> 200");
})();
' "$URL" || exit 1
stop_server || exit 1
echo "PASS"
