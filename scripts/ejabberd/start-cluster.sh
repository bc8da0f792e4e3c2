#!/usr/bin/env bash
# Start a 2-node ejabberd cluster on loopback for cubeproto's cluster tests, beside
# the single test node of start-ejabberd.sh (other ports, state, node names, epmd).
# The pytest fixture `ejabberd_cluster` (tests/conftest.py) runs it; so does
# `make servers`.
#
# Usage:
#   start-cluster.sh [--fresh] [--if-possible]
#
#   --fresh       stop the cluster and wipe its state directory first
#   --if-possible when ejabberd cannot be had here (not root, no apt-get and no
#                 ejabberd installed) print why and exit 0 (the cluster tests
#                 then skip with that reason); when CI is set, fail instead
#
# Idempotent: with both nodes up and joined it only checks them (~1 s). A node
# that is down (stopped, or SIGKILLed by a test) is started again on its own
# database and rejoins the cluster by itself; a node that never joined is
# joined to node 1 with `ejabberdctl join_cluster`.
#
# Environment (defaults in brackets):
#   EJABBERD_CLUSTER_DIR  state of the cluster [$TMPDIR/ejabberd-cluster]:
#                         node1/ and node2/ (each a start-ejabberd.sh state
#                         directory with its env file, ejabberdctl wrapper, logs),
#                         home/.erlang.cookie (mode 400), epmd.pid, env
#   CLUSTER_EPMD_PORT     the private epmd's port, loopback only [14369]
#   NODE1_PORTS           c2s, direct TLS, HTTP ports of node 1 [15222,15223,15280]
#   NODE2_PORTS           the same for node 2 [25222,25223,25280]
#   XMPP_DOMAIN           virtual host served by both nodes [localhost]
#   START_TIMEOUT         seconds to wait for each node and for the join [60]
#
# Both nodes serve the same domain with the same certificate (node 1's test CA,
# copied to node 2), so one CA file verifies either node.
#
# Nodes find each other through their own epmd on a private loopback port
# (ERL_EPMD_PORT): the single node's fixed distribution port (no epmd) cannot
# serve two nodes on one address. The Erlang cookie is a file, not a -setcookie
# argument, so `ps` does not show it. Stop with stop-cluster.sh, which can also
# SIGKILL one node (--kill N) for failure tests.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_DIR="${EJABBERD_CLUSTER_DIR:-${TMPDIR:-/tmp}/ejabberd-cluster}"
EPMD_PORT="${CLUSTER_EPMD_PORT:-14369}"
NODE1_PORTS="${NODE1_PORTS:-15222,15223,15280}"
NODE2_PORTS="${NODE2_PORTS:-25222,25223,25280}"
START_TIMEOUT="${START_TIMEOUT:-60}"
EJABBERD_USER=ejabberd
NODE_NAMES=("" "cubecluster1@localhost" "cubecluster2@localhost")

FRESH=0
IF_POSSIBLE=0

die() { echo "start-cluster: ERROR: $*" >&2; exit 1; }
log() { echo "start-cluster: $*"; }
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

for arg in "$@"; do
    case "$arg" in
        --fresh) FRESH=1 ;;
        --if-possible) IF_POSSIBLE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument $arg (see --help)" ;;
    esac
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports_of() { if [ "$1" -eq 1 ]; then echo "${NODE1_PORTS//,/ }"; else echo "${NODE2_PORTS//,/ }"; fi; }
node_dir() { echo "$CLUSTER_DIR/node$1"; }
# One admin command through node N's HTTP API (mod_http_api, loopback only):
# prints the JSON answer; fails unless HTTP 200. ~10 ms, where an ejabberdctl
# call boots an Erlang VM (~0.5-1 s on a busy machine).
api() {  # $1: node, $2: command
    local http
    http="$(ports_of "$1" | cut -d' ' -f3)"
    timeout 10 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "POST /api/%s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" "$1" >&3
        response="$(cat <&3)"
        case "${response%%$'"'"'\r'"'"'*}" in *" 200"*) ;; *) exit 1 ;; esac
        printf "%s\n" "${response##*$'"'"'\r\n\r\n'"'"'}"
    ' "$http" "$2"
}
node_up() {
    local p
    for p in $(ports_of "$1"); do port_open "$p" || return 1; done
    api "$1" status >/dev/null 2>&1
}

unavailable() {
    if [ "$IF_POSSIBLE" -eq 1 ] && [ -z "${CI:-}" ]; then
        log "not starting the ejabberd cluster: $*; the cluster tests will be skipped"
        exit 0
    fi
    die "$*"
}

if [ "$(id -u)" -ne 0 ]; then
    if [ -r "$CLUSTER_DIR/env" ]; then
        all=1
        for p in $(ports_of 1) $(ports_of 2); do port_open "$p" || all=0; done
        if [ "$all" -eq 1 ]; then log "already running (started by root)"; exit 0; fi
    fi
    unavailable "the cluster must be started as root (it installs packages and runs the nodes as user $EJABBERD_USER)"
fi
if ! command -v ejabberdctl >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1; then
    unavailable "ejabberd is not installed and there is no apt-get to install it"
fi

if [ "$FRESH" -eq 1 ]; then
    EJABBERD_CLUSTER_DIR="$CLUSTER_DIR" CLUSTER_EPMD_PORT="$EPMD_PORT" \
        "$SCRIPT_DIR/stop-cluster.sh" --purge
fi

t_begin=$(date +%s%N)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

mkdir -p "$CLUSTER_DIR/home"
chmod 755 "$CLUSTER_DIR"

# ---------------------------------------------------------------- cookie
# Erlang reads $HOME/.erlang.cookie (mode 400, the VM's own user). Each node's
# ejabberdctl.cfg runs erl through a wrapper (nodeN/erl) that sets HOME to
# $CLUSTER_DIR/home, for the node and for every ejabberdctl command alike;
# start-ejabberd.sh gives the directory to the ejabberd user (the package makes it).
COOKIE="$CLUSTER_DIR/home/.erlang.cookie"
if [ ! -s "$COOKIE" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$COOKIE")
fi

# ---------------------------------------------------------------- epmd
# The nodes' own epmd, on loopback and a private port (never the default 4369
# that other Erlang programs on this machine may use); stopped by PID.
EPMD_PIDFILE="$CLUSTER_DIR/epmd.pid"
epmd_up() { ERL_EPMD_PORT="$EPMD_PORT" epmd -port "$EPMD_PORT" -names >/dev/null 2>&1; }
start_epmd() {
    epmd_up && return 0
    port_open "$EPMD_PORT" && die "port 127.0.0.1:$EPMD_PORT is taken by something that is not epmd"
    ERL_EPMD_ADDRESS=127.0.0.1 setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 \
        </dev/null >/dev/null 2>&1 &
    echo $! > "$EPMD_PIDFILE"
    local deadline=$(( $(date +%s) + 10 ))
    until epmd_up; do
        [ "$(date +%s)" -lt "$deadline" ] || die "epmd did not answer on 127.0.0.1:$EPMD_PORT"
        sleep 0.05
    done
    log "epmd on 127.0.0.1:$EPMD_PORT (pid $(cat "$EPMD_PIDFILE"))"
}

# ---------------------------------------------------------------- nodes
start_node() {  # $1: 1 or 2; further arguments go to start-ejabberd.sh
    local n="$1"; shift
    local c2s tls http
    read -r c2s tls http <<< "$(ports_of "$n")"
    EJABBERD_STATE_DIR="$(node_dir "$n")" C2S_PORT="$c2s" C2S_TLS_PORT="$tls" HTTP_PORT="$http" \
        EJABBERD_NODE_NAME="${NODE_NAMES[$n]}" ERL_EPMD_PORT="$EPMD_PORT" \
        EJABBERD_COOKIE_HOME="$CLUSTER_DIR/home" START_TIMEOUT="$START_TIMEOUT" \
        "$SCRIPT_DIR/start-ejabberd.sh" "$@" 2>&1 | sed "s/^/[node$n] /"
    return "${PIPESTATUS[0]}"
}

IF_ARG=()
[ "$IF_POSSIBLE" -eq 1 ] && IF_ARG=(--if-possible)

if [ ! -s "$(node_dir 1)/server.pem" ]; then
    # First start: node 1 alone (it installs ejabberd if needed and makes the
    # test CA), then node 2 with node 1's certificate.
    start_node 1 "${IF_ARG[@]}" --install-only || die "installing ejabberd failed"
    command -v ejabberdctl >/dev/null 2>&1 || unavailable "ejabberd could not be installed (see above)"
    start_epmd
    start_node 1 "${IF_ARG[@]}" || die "node 1 did not start"
    node_up 1 || unavailable "node 1 is not running (see its output above)"
fi

start_epmd

mkdir -p "$(node_dir 2)"
for f in server.pem ca.pem cert.san; do
    if ! cmp -s "$(node_dir 1)/$f" "$(node_dir 2)/$f"; then
        cp "$(node_dir 1)/$f" "$(node_dir 2)/$f"
    fi
done

# Nodes that are down start in parallel: a node that was not the last to stop
# waits for its peer's tables, so one at a time could wait for the other forever.
pids=()
for n in 1 2; do
    if ! node_up "$n"; then
        start_node "$n" "${IF_ARG[@]}" & pids+=("$!")
    fi
done
rc=0
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || rc=$?; done
[ "$rc" -eq 0 ] || die "a node did not start (see its output above)"
for n in 1 2; do node_up "$n" || unavailable "node $n is not running (see its output above)"; done

# ---------------------------------------------------------------- join
in_cluster() {  # $1: the node asked; true when it lists both nodes
    local out
    out="$(api "$1" list_cluster 2>/dev/null)" || return 1
    grep -q "${NODE_NAMES[1]}" <<< "$out" && grep -q "${NODE_NAMES[2]}" <<< "$out"
}

if ! in_cluster 2; then
    log "joining ${NODE_NAMES[2]} to ${NODE_NAMES[1]} ..."
    t0=$(date +%s%N)
    "$(node_dir 2)/ejabberdctl" join_cluster "${NODE_NAMES[1]}" \
        || die "join_cluster failed; logs in $(node_dir 2)/logs"
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    until node_up 2 && in_cluster 1 && in_cluster 2; do
        [ "$(date +%s)" -lt "$deadline" ] || die "node 2 did not serve again as a member within ${START_TIMEOUT}s"
        sleep 0.1
    done
    log "joined and serving after $(ms_since "$t0") ms"
fi
deadline=$(( $(date +%s) + START_TIMEOUT ))
until in_cluster 1 && in_cluster 2; do
    [ "$(date +%s)" -lt "$deadline" ] || die "the nodes do not list each other within ${START_TIMEOUT}s"
    sleep 0.1
done

cat > "$CLUSTER_DIR/env" <<EOF
CLUSTER_NODE1_NAME=${NODE_NAMES[1]}
CLUSTER_NODE2_NAME=${NODE_NAMES[2]}
CLUSTER_NODE1_ENV=$(node_dir 1)/env
CLUSTER_NODE2_ENV=$(node_dir 2)/env
CLUSTER_EPMD_PORT=$EPMD_PORT
EOF
chmod 644 "$CLUSTER_DIR/env"

for n in 1 2; do
    pid="$(cat "$(node_dir "$n")/run/ejabberd.pid" 2>/dev/null || echo '?')"
    rss="$(awk '/VmRSS/ { print int($2 / 1024) " MiB" }' "/proc/$pid/status" 2>/dev/null || echo '?')"
    log "node $n ${NODE_NAMES[$n]}: ports $(ports_of "$n"), pid $pid, RSS $rss"
done
log "ready after $(ms_since "$t_begin") ms; endpoints in $CLUSTER_DIR/node1/env and node2/env"
