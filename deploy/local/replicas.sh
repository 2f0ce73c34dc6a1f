#!/bin/sh
# replicas.sh - N pagoda replicas behind HAProxy on one machine (issue 28).
#
#   deploy/local/replicas.sh [-n N] [-p PORT] [-H HOST] [-d DIR] -- SERVE_ARGS...
#
# Starts N replicas (`pagoda serve SERVE_ARGS --host HOST --port PORT+i
# --replica-name replica-i`, i = 1..N) and HAProxy on HOST:PORT with
# deploy/haproxy/haproxy.cfg rendered for those ports; waits until every
# replica's /ready and the front answer; prints
#   replicas.sh: replica-I pid PID on http://HOST:PORT+I
#   replicas.sh: ready on http://HOST:PORT
# and then stays in the foreground. SIGTERM or SIGINT is forwarded to every
# replica (each drains: /ready turns 503, HAProxy takes it out of rotation,
# running requests finish within its --shutdown-grace); once all replicas
# have exited, HAProxy is stopped and the script exits 0. A replica that
# dies on its own is left dead (HAProxy routes around it); when none is
# left the script stops HAProxy and exits 1.
#
# Defaults: N=2, PORT=8080, HOST=127.0.0.1, DIR a new temporary directory
# that holds haproxy.cfg, the logs (replica-I.log, haproxy.log) and the pid
# files (replica-I.pid, haproxy.pid). Environment: PAGODA_BIN (default: the
# build next to this script, else `pagoda` on PATH), HAPROXY (default
# haproxy), READY_TIMEOUT seconds (default 300: model loading).
# Needs curl.
set -u
N=2 PORT=8080 HOST=127.0.0.1 DIR=""
usage() { echo "usage: $0 [-n N] [-p PORT] [-H HOST] [-d DIR] -- SERVE_ARGS..." >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    -n) [ $# -ge 2 ] || usage; N=$2; shift 2 ;;
    -p) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
    -H) [ $# -ge 2 ] || usage; HOST=$2; shift 2 ;;
    -d) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
    esac
done
case $N in ''|*[!0-9]*) echo "replicas.sh: -n wants a number of replicas (1..64)" >&2; exit 2 ;; esac
case $PORT in ''|*[!0-9]*) echo "replicas.sh: -p wants a port" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 64 ] || { echo "replicas.sh: -n wants 1..64 replicas" >&2; exit 2; }
[ "$PORT" -ge 1 ] && [ $((PORT + N)) -le 65535 ] || { echo "replicas.sh: ports $PORT..$((PORT + N)) are not all valid" >&2; exit 2; }

HERE=$(cd "$(dirname "$0")" && pwd)
CFG_TEMPLATE=$HERE/../haproxy/haproxy.cfg
if [ -z "${PAGODA_BIN:-}" ]; then
    if [ -x "$HERE/../../build/pagoda" ]; then PAGODA_BIN=$HERE/../../build/pagoda; else PAGODA_BIN=pagoda; fi
fi
HAPROXY=${HAPROXY:-haproxy}
READY_TIMEOUT=${READY_TIMEOUT:-300}
command -v "$HAPROXY" >/dev/null 2>&1 || { echo "replicas.sh: $HAPROXY not found (Debian: apt-get install haproxy)" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "replicas.sh: curl not found" >&2; exit 1; }
[ -n "$DIR" ] || DIR=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-replicas.XXXXXX") || exit 1
mkdir -p "$DIR" || exit 1
case $HOST in *:*) HP="[$HOST]" ;; *) HP=$HOST ;; esac

log() { echo "replicas.sh: $*"; }

# ---- render the HAProxy config for these ports ----
awk -v n="$N" -v port="$PORT" -v hp="$HP" '
/^backend /  { done_s = 0 }
/# @bind/    { sub(/bind .*/, "bind " hp ":" port); print; next }
/# @server/  { if (!done_s) for (i = 1; i <= n; i++) printf "    server replica-%d %s:%d\n", i, hp, port + i; done_s = 1; next }
{ print }' "$CFG_TEMPLATE" >"$DIR/haproxy.cfg" || exit 1
"$HAPROXY" -c -q -f "$DIR/haproxy.cfg" || { echo "replicas.sh: the rendered $DIR/haproxy.cfg is not valid" >&2; exit 1; }

# ---- start ----
# every connection comes from HAProxy's one address: no per-address limit
# (pagoda's default 64 would refuse HAProxy's connections beyond it) unless
# SERVE_ARGS sets one
PER_IP="--max-connections-per-ip 0"
for a in "$@"; do case $a in --max-connections-per-ip*) PER_IP="" ;; esac; done
PIDS=""
HA_PID=""
stopping=0
stop_all() { # forward SIGTERM to the replicas, wait for their drain
    stopping=1
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
}
trap 'log "signal: draining the replicas"; stop_all' TERM INT
i=1
while [ "$i" -le "$N" ]; do
    p=$((PORT + i))
    # shellcheck disable=SC2086 # PER_IP is two words or none
    "$PAGODA_BIN" serve "$@" $PER_IP --host "$HOST" --port "$p" --replica-name "replica-$i" >"$DIR/replica-$i.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/replica-$i.pid"
    PIDS="$PIDS $pid"
    log "replica-$i pid $pid on http://$HP:$p"
    i=$((i + 1))
done

# sleep in the background and `wait` for it: a trapped signal interrupts
# `wait` at once, while the trap of a signal that arrives during a
# foreground command may be deferred (dash)
nap() { sleep "$1" & wait $!; }
# running (a child that exited but is not reaped yet is a zombie: not alive)
# (builtins only: no command substitution, whose subshell a signal could
# interrupt)
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    st=""
    read -r st <"/proc/$1/stat" 2>/dev/null || return 0
    st=${st##*) }
    case ${st%% *} in Z|X) return 1 ;; esac
    return 0
}
finish() { # stop HAProxy (soft stop: finishes what it forwards), exit
    if [ -n "$HA_PID" ] && alive "$HA_PID"; then
        kill -USR1 "$HA_PID" 2>/dev/null
        t=0
        while alive "$HA_PID" && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
        alive "$HA_PID" && kill -TERM "$HA_PID" 2>/dev/null
        wait "$HA_PID" 2>/dev/null
    fi
    log "stopped"
    exit "$1"
}

# ---- wait for readiness ----
waited=0 # tenths of a second (no $(date) here: see alive())
i=1
for pid in $PIDS; do
    p=$((PORT + i))
    until curl -fs -o /dev/null --max-time 2 "http://$HP:$p/ready"; do
        if [ $stopping = 1 ]; then for q in $PIDS; do wait "$q" 2>/dev/null; done; finish 0; fi
        if ! alive "$pid"; then
            log "replica-$i exited while starting; its log ($DIR/replica-$i.log) ends with:" >&2
            tail -n 5 "$DIR/replica-$i.log" >&2
            stop_all; for q in $PIDS; do wait "$q" 2>/dev/null; done
            exit 1
        fi
        if [ $waited -ge $((READY_TIMEOUT * 10)) ]; then
            log "replica-$i not ready after $READY_TIMEOUT s" >&2
            stop_all; for q in $PIDS; do wait "$q" 2>/dev/null; done
            exit 1
        fi
        nap 0.2
        waited=$((waited + 2))
    done
    i=$((i + 1))
done
"$HAPROXY" -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
HA_PID=$!
echo "$HA_PID" >"$DIR/haproxy.pid"
t=0
until curl -fs -o /dev/null --max-time 2 "http://$HP:$PORT/ready"; do
    if ! alive "$HA_PID" || [ $t -ge 100 ]; then
        log "HAProxy did not come up on $HP:$PORT; $DIR/haproxy.log ends with:" >&2
        tail -n 5 "$DIR/haproxy.log" >&2
        stop_all; for q in $PIDS; do wait "$q" 2>/dev/null; done
        finish 1
    fi
    nap 0.1
    t=$((t + 1))
done
log "ready on http://$HP:$PORT ($N replicas; logs in $DIR)"

# ---- supervise ----
while :; do
    n_alive=0
    for pid in $PIDS; do alive "$pid" && n_alive=$((n_alive + 1)); done
    [ "$n_alive" -eq 0 ] && break
    nap 0.2
done
i=1
for pid in $PIDS; do # each replica's exit status (0 after a drain; 128+N: killed by signal N)
    wait "$pid" 2>/dev/null
    log "replica-$i exit status $?"
    i=$((i + 1))
done
if [ $stopping = 1 ]; then log "all replicas drained"; finish 0; fi
log "no replica is left" >&2
finish 1
