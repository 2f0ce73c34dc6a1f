#!/bin/sh
# deploy/systemd/pagoda.service (issue 28): `systemd-analyze verify` accepts
# it (with ExecStart pointed at the built binary), it carries the hardening
# options (DynamicUser, ProtectSystem, NoNewPrivileges ...), ExecReload sends
# SIGHUP (the key-file reload), and TimeoutStopSec covers pagoda's default
# shutdown grace. Skips (77) without systemd-analyze.
cd "$(dirname "$0")/.." || exit 1
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
U=deploy/systemd/pagoda.service
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-systemd.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
sed "s|/usr/local/bin/pagoda|$BIN|" "$U" >"$TMP/pagoda.service"
if systemd-analyze verify "$TMP/pagoda.service" >"$TMP/out" 2>&1; then echo "ok: systemd-analyze verify"
else echo "FAIL: systemd-analyze verify:"; cat "$TMP/out"; fail=1; fi
for kv in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes ProtectHome=yes PrivateTmp=yes \
          'ExecReload=/bin/kill -HUP $MAINPID' KillSignal=SIGTERM; do
    grep -qxF "$kv" "$U" && echo "ok: $kv" || { echo "FAIL: $U lacks '$kv'"; fail=1; }
done
t=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$U")
[ -n "$t" ] && [ "$t" -gt 30 ] && echo "ok: TimeoutStopSec=$t > the default shutdown grace (30 s)" || { echo "FAIL: TimeoutStopSec '$t'"; fail=1; }
# the command line it runs starts pagoda (with a config file of its own:
# port 0 and the built-in demo model), and SIGTERM (systemctl stop) drains it
cmd=$(sed -n 's/^ExecStart=\/usr\/local\/bin\/pagoda //p' "$U")
printf 'host = 127.0.0.1\nport = 0\n' >"$TMP/serve.conf"
# shellcheck disable=SC2086 # the unit's words
set -- $(echo "$cmd" | sed "s|/etc/pagoda/serve.conf|$TMP/serve.conf|")
"$BIN" "$@" >"$TMP/log" 2>&1 &
pid=$!
i=0
until grep -q '^pagoda: listening on' "$TMP/log" || [ $i -ge 300 ] || ! kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
if grep -q '^pagoda: listening on' "$TMP/log"; then
    kill -TERM $pid; wait $pid; rc=$?
    [ $rc -eq 0 ] && echo "ok: ExecStart's command serves and exits 0 on SIGTERM" || { echo "FAIL: exit $rc after SIGTERM"; fail=1; }
else
    kill -9 $pid 2>/dev/null; echo "FAIL: ExecStart's command did not start: $(tail -n 3 "$TMP/log")"; fail=1
fi
[ $fail -eq 0 ] && echo "systemd tests passed"
exit $fail
