#!/bin/sh
# Install dnsmasq, the DNS server the SRV lookup tests run on loopback
# (tests/dns_server.py): Debian's dnsmasq-base, the binary alone (no system service is
# installed or started; each test starts its own instance on a free port of 127.0.0.1).
#
#   scripts/dns-deps.sh                 install (fails when it cannot)
#   scripts/dns-deps.sh --if-possible   say why and exit 0 when it cannot
set -eu

if command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ]; then
    exit 0
fi
cannot() {
    if [ "${IF_POSSIBLE:-0}" -eq 1 ]; then
        echo "dns-deps: $1; the SRV lookup tests will skip (fail under CI)"
        exit 0
    fi
    echo "dns-deps: $1" >&2
    exit 1
}
IF_POSSIBLE=0
[ "${1:-}" = "--if-possible" ] && IF_POSSIBLE=1
[ "$(id -u)" -eq 0 ] || cannot "dnsmasq is not installed and installing it needs root"
command -v apt-get >/dev/null 2>&1 || cannot "dnsmasq is not installed and there is no apt-get"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dnsmasq-base >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dnsmasq-base >/dev/null \
        || cannot "apt-get install dnsmasq-base failed"
fi
echo "dns-deps: installed $(/usr/sbin/dnsmasq --version | head -1)"
