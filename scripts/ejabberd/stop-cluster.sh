#!/usr/bin/env bash
# Stop the 2-node test cluster started by start-cluster.sh, or SIGKILL one node.
#
# Usage:
#   stop-cluster.sh [--purge]
#   stop-cluster.sh --kill N
#
#   --purge    also delete the cluster's state directory
#   --kill N   SIGKILL the Erlang VM of node N (1 or 2) and nothing else: a
#              node's sudden death, for failure tests; start-cluster.sh starts
#              it again (it rejoins the cluster from its own database)
#
# Environment: EJABBERD_CLUSTER_DIR [$TMPDIR/ejabberd-cluster],
#              CLUSTER_EPMD_PORT [14369]
#
# Stops both nodes (stop-ejabberd.sh for each, in parallel: bounded, falls back
# to SIGTERM/SIGKILL of that node's own PID), then the cluster's epmd by its PID.
# Safe to run when nothing is running. Never touches the single test node.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_DIR="${EJABBERD_CLUSTER_DIR:-${TMPDIR:-/tmp}/ejabberd-cluster}"
EPMD_PORT="${CLUSTER_EPMD_PORT:-14369}"
PURGE=0
KILL=""

log() { echo "stop-cluster: $*"; }
die() { echo "stop-cluster: ERROR: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --purge) PURGE=1 ;;
        --kill) shift; KILL="${1:-}" ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

# PID of the VM whose database is node N's (its spool is on its command line)
vm_pid() {
    local mark="-mnesia dir \"$CLUSTER_DIR/node$1/spool\"" f p
    for f in /proc/[0-9]*/cmdline; do
        p="${f#/proc/}"; p="${p%/cmdline}"
        if tr '\0' ' ' < "$f" 2>/dev/null | grep -q -- "beam.smp.*$mark"; then
            echo "$p"; return 0
        fi
    done
    return 1
}

if [ -n "$KILL" ]; then
    case "$KILL" in 1|2) ;; *) die "--kill takes 1 or 2, not '$KILL'" ;; esac
    pid="$(vm_pid "$KILL" || true)"
    [ -n "$pid" ] || die "node $KILL is not running"
    kill -KILL "$pid"
    log "sent SIGKILL to node $KILL (pid $pid)"
    exit 0
fi

pids=()
for n in 1 2; do
    if [ -d "$CLUSTER_DIR/node$n" ]; then
        EJABBERD_STATE_DIR="$CLUSTER_DIR/node$n" "$SCRIPT_DIR/stop-ejabberd.sh" \
            2>&1 | sed "s/^/[node$n] /" & pids+=("$!")
    fi
done
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || true; done

# The cluster's epmd: ours only if its command line carries our port.
epmd_pid="$(cat "$CLUSTER_DIR/epmd.pid" 2>/dev/null || true)"
if [ -n "$epmd_pid" ] && tr '\0' ' ' < "/proc/$epmd_pid/cmdline" 2>/dev/null \
        | grep -q -- "epmd -port $EPMD_PORT "; then
    kill -TERM "$epmd_pid" 2>/dev/null || true
    log "stopped epmd (pid $epmd_pid)"
fi
rm -f "$CLUSTER_DIR/epmd.pid"

if [ "$PURGE" -eq 1 ]; then
    case "$CLUSTER_DIR" in
        /|"") die "refusing to delete '$CLUSTER_DIR'" ;;
    esac
    rm -rf "$CLUSTER_DIR"
    log "removed $CLUSTER_DIR"
fi
