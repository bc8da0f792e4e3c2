#!/usr/bin/env bash
# Start a local ejabberd (Debian package, 23.01 on bookworm) for cubeproto's
# integration tests, and register the accounts given on the command line.
# `make servers` (and so `make test` and CI) runs it; the pytest fixture
# `ejabberd` (tests/conftest.py) runs it too when the server is not up.
#
# Usage:
#   start-ejabberd.sh [--fresh] [--restart] [--if-possible] [--install-only] [USER[:PASSWORD] ...]
#
#   USER          local part of an account on $XMPP_DOMAIN, e.g. 1001-42
#                 (ConnectyCube's userId-appId form). The password defaults to
#                 $XMPP_DEFAULT_PASSWORD. Registering an existing account just
#                 resets its password, so the script can run again and again.
#   --fresh       stop the server if it runs and wipe its state directory
#                 (database, logs, certificates) before starting
#   --restart     restart the server even if it runs with the same config
#   --if-possible when ejabberd cannot be had here (not root, no apt-get and
#                 no ejabberd installed) print why and exit 0, so that the
#                 integration tests skip with that reason; when the
#                 environment variable CI is set, fail instead
#   --install-only  install ejabberd if missing, then exit (start-cluster.sh)
#
# Environment (defaults in brackets):
#   EJABBERD_STATE_DIR   where config, certificate, database and logs live
#                        [$TMPDIR/ejabberd-test]
#   XMPP_DOMAIN          virtual host [localhost]; MUC is muc.$XMPP_DOMAIN
#   LISTEN_IP            address all listeners bind to [127.0.0.1]
#   C2S_PORT             TCP c2s, STARTTLS offered, not required [5222]
#   C2S_TLS_PORT         direct TLS c2s [5223]
#   HTTP_PORT            HTTP listener with WebSocket at /ws [5280]
#   ERL_DIST_PORT        Erlang distribution port used by ejabberdctl, no epmd [5210]
#   EJABBERD_NODE_NAME   Erlang node name [ejabberdtest@localhost]
#   ERL_EPMD_PORT        when set: the node registers with an epmd on this loopback
#                        port (one the caller runs, see start-cluster.sh) instead of
#                        the fixed ERL_DIST_PORT, so that several nodes can find each
#                        other; unset for the single test node
#   EJABBERD_COOKIE_HOME with ERL_EPMD_PORT: a directory holding the .erlang.cookie
#                        (mode 400, owned by the ejabberd user) the node and
#                        ejabberdctl use; the cookie never appears on a command line
#   XMPP_DEFAULT_PASSWORD  password for USER arguments without one [pw]
#   START_TIMEOUT        seconds to wait for the listeners [60]
#   EJABBERD_TEMPLATE    config template [ejabberd.yml next to this script]
#
# Runs as root (it may apt-get install ejabberd). The server itself runs as
# the unprivileged "ejabberd" user created by the package. The system-wide
# ejabberd service of the package is never started or touched.
#
# After a successful start the state directory holds:
#   ejabberdctl    wrapper bound to this instance: ./ejabberdctl status,
#                  ./ejabberdctl register U D P, ./ejabberdctl create_room ...
#   ca.pem         the test CA: the trust anchor for clients (CA file)
#   server.pem     key + certificate used by the server
#   env            KEY=VALUE lines with the endpoints (the test fixture reads it)
#   logs/          ejabberd.log, error.log
#
# Stop it with stop-ejabberd.sh (same environment).

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

STATE_DIR="${EJABBERD_STATE_DIR:-${TMPDIR:-/tmp}/ejabberd-test}"
XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
LISTEN_IP="${LISTEN_IP:-127.0.0.1}"
C2S_PORT="${C2S_PORT:-5222}"
C2S_TLS_PORT="${C2S_TLS_PORT:-5223}"
HTTP_PORT="${HTTP_PORT:-5280}"
ERL_DIST_PORT="${ERL_DIST_PORT:-5210}"
XMPP_DEFAULT_PASSWORD="${XMPP_DEFAULT_PASSWORD:-pw}"
START_TIMEOUT="${START_TIMEOUT:-60}"
TEMPLATE="${EJABBERD_TEMPLATE:-$SCRIPT_DIR/ejabberd.yml}"
EJABBERD_USER=ejabberd
NODE_NAME="${EJABBERD_NODE_NAME:-ejabberdtest@localhost}"
ERL_EPMD_PORT="${ERL_EPMD_PORT:-}"
EJABBERD_COOKIE_HOME="${EJABBERD_COOKIE_HOME:-}"

FRESH=0
RESTART=0
IF_POSSIBLE=0
INSTALL_ONLY=0
USERS=()

die() { echo "start-ejabberd: ERROR: $*" >&2; exit 1; }
log() { echo "start-ejabberd: $*"; }

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --fresh) FRESH=1 ;;
        --restart) RESTART=1 ;;
        --if-possible) IF_POSSIBLE=1 ;;
        --install-only) INSTALL_ONLY=1 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; USERS+=("$@"); break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) USERS+=("$1") ;;
    esac
    shift
done

[ -f "$TEMPLATE" ] || die "config template not found: $TEMPLATE"

port_open() { (exec 3<>"/dev/tcp/$LISTEN_IP/$1") 2>/dev/null; }

# Say why there is no server and stop: an error, unless --if-possible was
# given outside CI (then the integration tests skip with this reason).
unavailable() {
    if [ "$IF_POSSIBLE" -eq 1 ] && [ -z "${CI:-}" ]; then
        log "not starting ejabberd: $*; the integration tests will be skipped"
        exit 0
    fi
    die "$*"
}

if [ "$(id -u)" -ne 0 ]; then
    # Someone else (root) may have started it already: then it is usable.
    if [ ${#USERS[@]} -eq 0 ] && [ -r "$STATE_DIR/env" ] \
       && port_open "$C2S_PORT" && port_open "$C2S_TLS_PORT" && port_open "$HTTP_PORT"; then
        log "already running (started by root); endpoints in $STATE_DIR/env"
        exit 0
    fi
    unavailable "ejabberd must be started as root (it installs packages and runs the server as user $EJABBERD_USER)"
fi
if ! command -v ejabberdctl >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1; then
    unavailable "ejabberd is not installed and there is no apt-get to install it"
fi

# ---------------------------------------------------------------- install
install_packages() {
    # Keep the package's own service from starting during the install: no
    # init system here, and its default config would grab the same ports.
    local guard=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        guard=1
    fi
    local rc=0
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "$@" >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "$@" >/dev/null; } \
        || rc=$?
    [ "$guard" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    return "$rc"
}

if ! command -v ejabberdctl >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    log "installing ejabberd (Debian package) ..."
    t0=$(date +%s)
    install_packages ejabberd openssl || unavailable "apt-get install ejabberd failed"
    log "installed in $(( $(date +%s) - t0 ))s: $(dpkg-query -W -f='${Version}' ejabberd)"
fi
id "$EJABBERD_USER" >/dev/null 2>&1 || die "user $EJABBERD_USER missing; the ejabberd package did not install cleanly"
[ "$INSTALL_ONLY" -eq 1 ] && exit 0

EJABBERDCTL="$(command -v ejabberdctl)"
CTL=("$EJABBERDCTL" --config-dir "$STATE_DIR" --spool "$STATE_DIR/spool" --logs "$STATE_DIR/logs")

# Run ejabberdctl from a directory the server user may enter.
ctl() { (cd / && "${CTL[@]}" "$@"); }
is_running() { [ -f "$STATE_DIR/ejabberdctl.cfg" ] && ctl status >/dev/null 2>&1; }

stop_instance() {
    if [ -x "$SCRIPT_DIR/stop-ejabberd.sh" ]; then
        EJABBERD_STATE_DIR="$STATE_DIR" "$SCRIPT_DIR/stop-ejabberd.sh"
    elif is_running; then
        ctl stop >/dev/null || true
        sleep 2
    fi
}

if [ "$FRESH" -eq 1 ]; then
    stop_instance
    case "$STATE_DIR" in
        /|"") die "refusing to wipe STATE_DIR='$STATE_DIR'" ;;
    esac
    rm -rf "$STATE_DIR"
fi

# ---------------------------------------------------------------- layout
mkdir -p "$STATE_DIR/spool" "$STATE_DIR/logs" "$STATE_DIR/run"

# ---------------------------------------------------------------- certificate
# A throw-away CA signs the server certificate, so that clients can pin
# ca.pem as their only trust anchor (strict verifiers refuse a self-signed
# CA certificate used directly as the server certificate).
SAN="DNS:$XMPP_DOMAIN,DNS:muc.$XMPP_DOMAIN,DNS:*.$XMPP_DOMAIN,IP:127.0.0.1"
[ "$LISTEN_IP" != "127.0.0.1" ] && SAN="$SAN,IP:$LISTEN_IP"
if [ ! -s "$STATE_DIR/server.pem" ] || [ ! -s "$STATE_DIR/ca.pem" ] \
   || [ "$(cat "$STATE_DIR/cert.san" 2>/dev/null)" != "$SAN" ]; then
    log "generating a test CA and a server certificate for $SAN"
    work="$(mktemp -d)"
    (
        set -e
        cd "$work"
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -subj "/CN=$XMPP_DOMAIN test CA" -keyout ca.key -out ca.pem \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$XMPP_DOMAIN" \
            -keyout server.key -out server.csr
        printf '%s\n' "subjectAltName=$SAN" \
            "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 3650 -sha256 -extfile server.ext -out server.crt
    ) >/dev/null 2>&1 || { rm -rf "$work"; die "openssl could not create the certificates"; }
    cat "$work/server.key" "$work/server.crt" > "$STATE_DIR/server.pem"
    cp "$work/ca.pem" "$STATE_DIR/ca.pem"
    rm -rf "$work"
    echo "$SAN" > "$STATE_DIR/cert.san"
fi

# ---------------------------------------------------------------- config
NEW_CFG="$(mktemp)"
trap 'rm -f "$NEW_CFG"' EXIT
sed -e "s|@XMPP_DOMAIN@|$XMPP_DOMAIN|g" \
    -e "s|@LISTEN_IP@|$LISTEN_IP|g" \
    -e "s|@C2S_PORT@|$C2S_PORT|g" \
    -e "s|@C2S_TLS_PORT@|$C2S_TLS_PORT|g" \
    -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
    -e "s|@CERTFILE@|$STATE_DIR/server.pem|g" \
    -e "s|@CAFILE@|$STATE_DIR/ca.pem|g" \
    "$TEMPLATE" > "$NEW_CFG"

if [ -z "$ERL_EPMD_PORT" ]; then
cat > "$STATE_DIR/ejabberdctl.cfg.new" <<EOF
# ejabberdctl settings of the test instance (generated by start-ejabberd.sh)
ERLANG_NODE=$NODE_NAME
# fixed distribution port on loopback: no epmd daemon, nothing on 0.0.0.0
ERL_DIST_PORT=$ERL_DIST_PORT
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {127,0,0,1}"
EJABBERD_PID_PATH=$STATE_DIR/run/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
EOF
else
[ -n "$EJABBERD_COOKIE_HOME" ] || die "ERL_EPMD_PORT needs EJABBERD_COOKIE_HOME (the directory of .erlang.cookie)"
cat > "$STATE_DIR/ejabberdctl.cfg.new" <<EOF
# ejabberdctl settings of a cluster node (generated by start-ejabberd.sh)
ERLANG_NODE=$NODE_NAME
# a private epmd on loopback, run by start-cluster.sh: never the default port 4369,
# and the VM must not start one of its own (it would listen on every address)
export ERL_EPMD_PORT=$ERL_EPMD_PORT
ERL_EPMD_ADDRESS=127.0.0.1
# Erlang reads the cookie from HOME/.erlang.cookie (no -setcookie visible in ps);
# ejabberdctl runs erl through su, which resets HOME: this wrapper sets it again
ERL=$STATE_DIR/erl
ERL_OPTIONS="-start_epmd false -env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {127,0,0,1}"
EJABBERD_PID_PATH=$STATE_DIR/run/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
EOF
fi

CONFIG_CHANGED=1
if [ -f "$STATE_DIR/ejabberd.yml" ] && cmp -s "$NEW_CFG" "$STATE_DIR/ejabberd.yml" \
   && cmp -s "$STATE_DIR/ejabberdctl.cfg.new" "$STATE_DIR/ejabberdctl.cfg"; then
    CONFIG_CHANGED=0
fi

if is_running; then
    if [ "$CONFIG_CHANGED" -eq 0 ] && [ "$RESTART" -eq 0 ]; then
        log "already running with the same configuration (pid $(cat "$STATE_DIR/run/ejabberd.pid" 2>/dev/null || echo '?'))"
        ALREADY=1
    else
        log "configuration changed or --restart given: restarting"
        stop_instance
        ALREADY=0
    fi
else
    ALREADY=0
fi

cp "$NEW_CFG" "$STATE_DIR/ejabberd.yml"
mv "$STATE_DIR/ejabberdctl.cfg.new" "$STATE_DIR/ejabberdctl.cfg"
[ -f /etc/ejabberd/inetrc ] && cp /etc/ejabberd/inetrc "$STATE_DIR/inetrc"

if [ -n "$ERL_EPMD_PORT" ]; then
cat > "$STATE_DIR/erl" <<EOF
#!/bin/sh
# erl with the cluster's cookie directory as HOME (generated by start-ejabberd.sh)
HOME="$EJABBERD_COOKIE_HOME"; export HOME
exec /usr/bin/erl "\$@"
EOF
chmod 755 "$STATE_DIR/erl"
fi

cat > "$STATE_DIR/ejabberdctl" <<EOF
#!/bin/sh
# ejabberdctl bound to the test instance in $STATE_DIR
cd / && exec $EJABBERDCTL --config-dir "$STATE_DIR" --spool "$STATE_DIR/spool" --logs "$STATE_DIR/logs" "\$@"
EOF
chmod 755 "$STATE_DIR/ejabberdctl"

# a fresh log per start, so that error reports show this start only
if [ "$ALREADY" -eq 0 ]; then : > "$STATE_DIR/logs/ejabberd.log"; fi
chown -R "$EJABBERD_USER:$EJABBERD_USER" "$STATE_DIR"
chmod 755 "$STATE_DIR"
chmod 750 "$STATE_DIR/spool"
chmod 640 "$STATE_DIR/server.pem"
if [ -n "$ERL_EPMD_PORT" ]; then
    [ -s "$EJABBERD_COOKIE_HOME/.erlang.cookie" ] \
        || die "no cookie in $EJABBERD_COOKIE_HOME/.erlang.cookie"
    chown -R "$EJABBERD_USER:$EJABBERD_USER" "$EJABBERD_COOKIE_HOME"
    chmod 700 "$EJABBERD_COOKIE_HOME"
    chmod 400 "$EJABBERD_COOKIE_HOME/.erlang.cookie"
fi
chmod 644 "$STATE_DIR/ca.pem"
su -s /bin/sh -c "test -w '$STATE_DIR/spool'" "$EJABBERD_USER" \
    || die "user $EJABBERD_USER cannot write to $STATE_DIR/spool (is a parent directory private?)"

# ---------------------------------------------------------------- start
if [ "$ALREADY" -eq 0 ]; then
    DIST_PORT_CHECK="$ERL_DIST_PORT"
    [ -n "$ERL_EPMD_PORT" ] && DIST_PORT_CHECK=""
    for p in "$C2S_PORT" "$C2S_TLS_PORT" "$HTTP_PORT" $DIST_PORT_CHECK; do
        if port_open "$p"; then
            die "port $LISTEN_IP:$p is already in use by another process: $(ss -ltnpH "sport = :$p" 2>/dev/null | head -1)"
        fi
    done
    # A PID file left by an instance that was killed (not stopped) would look like a
    # server that died during start-up: nothing of ours runs here (the ports are free).
    rm -f "$STATE_DIR/run/ejabberd.pid"
    log "starting ejabberd ($NODE_NAME) ..."
    t0=$(date +%s%N)
    ctl start || die "ejabberdctl start failed"
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    until port_open "$C2S_PORT" && port_open "$C2S_TLS_PORT" && port_open "$HTTP_PORT" && ctl status >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "start-ejabberd: ERROR: ejabberd did not accept connections on $LISTEN_IP:$C2S_PORT/$C2S_TLS_PORT/$HTTP_PORT within ${START_TIMEOUT}s" >&2
            echo "---- last lines of $STATE_DIR/logs/ejabberd.log" >&2
            tail -n 30 "$STATE_DIR/logs/ejabberd.log" >&2 2>/dev/null || true
            echo "---- $STATE_DIR/logs/error.log" >&2
            tail -n 30 "$STATE_DIR/logs/error.log" >&2 2>/dev/null || true
            echo "start-ejabberd: stopping the half-started server" >&2
            stop_instance >&2 || true
            exit 1
        fi
        pid="$(cat "$STATE_DIR/run/ejabberd.pid" 2>/dev/null || true)"
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            echo "start-ejabberd: ERROR: the ejabberd process ($pid) exited during start-up" >&2
            tail -n 30 "$STATE_DIR/logs/ejabberd.log" "$STATE_DIR/logs/error.log" >&2 2>/dev/null || true
            # Errors that stop ejabberd before its logger runs (bad config)
            # only reach the console: run it once attached to show them.
            echo "---- critical messages of an attached start attempt:" >&2
            timeout 30 "$STATE_DIR/ejabberdctl" foreground-quiet 2>&1 | tail -n 20 >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    t1=$(date +%s%N)
    log "accepting connections after $(( (t1 - t0) / 1000000 )) ms (pid $(cat "$STATE_DIR/run/ejabberd.pid"))"
fi

# ---------------------------------------------------------------- accounts
for spec in ${USERS[@]+"${USERS[@]}"}; do
    user="${spec%%:*}"
    if [ "$user" = "$spec" ]; then pass="$XMPP_DEFAULT_PASSWORD"; else pass="${spec#*:}"; fi
    [ -n "$user" ] || die "empty user name in argument '$spec'"
    if out="$(ctl register "$user" "$XMPP_DOMAIN" "$pass" 2>&1)"; then
        log "registered $user@$XMPP_DOMAIN"
    elif echo "$out" | grep -q "already registered"; then
        ctl change_password "$user" "$XMPP_DOMAIN" "$pass" >/dev/null \
            || die "could not reset the password of $user@$XMPP_DOMAIN"
        log "$user@$XMPP_DOMAIN exists, password reset"
    else
        die "registering $user@$XMPP_DOMAIN failed: $out"
    fi
done

# Clients that take the XMPP domain from the WebSocket URL (the ConnectyCube
# JS SDK does) need the domain there, not an address: use it when it resolves.
WS_HOST="$LISTEN_IP"
getent hosts "$XMPP_DOMAIN" >/dev/null 2>&1 && WS_HOST="$XMPP_DOMAIN"

cat > "$STATE_DIR/env" <<EOF
XMPP_DOMAIN=$XMPP_DOMAIN
XMPP_MUC_DOMAIN=muc.$XMPP_DOMAIN
XMPP_HOST=$LISTEN_IP
XMPP_C2S_PORT=$C2S_PORT
XMPP_C2S_TLS_PORT=$C2S_TLS_PORT
XMPP_HTTP_PORT=$HTTP_PORT
XMPP_WS_URL=ws://$WS_HOST:$HTTP_PORT/ws
XMPP_API_URL=http://$LISTEN_IP:$HTTP_PORT/api
XMPP_CA_FILE=$STATE_DIR/ca.pem
EJABBERDCTL=$STATE_DIR/ejabberdctl
EOF
chown "$EJABBERD_USER:$EJABBERD_USER" "$STATE_DIR/env"
chmod 644 "$STATE_DIR/env"

log "ready: xmpp://$LISTEN_IP:$C2S_PORT (STARTTLS), xmpps://$LISTEN_IP:$C2S_TLS_PORT, ws://$WS_HOST:$HTTP_PORT/ws, domain $XMPP_DOMAIN"
log "CA file $STATE_DIR/ca.pem; control with $STATE_DIR/ejabberdctl; endpoints in $STATE_DIR/env"
