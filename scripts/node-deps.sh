#!/bin/sh
# Install the Node packages of the SDK conformance harness (tests/sdk/harness) from its
# lockfile with `npm ci`: the official ConnectyCube JS SDK pinned to 6.1.2, and (dev) the
# TypeScript compiler that checks the local server's REST answers against the SDK's types.
#
#   scripts/node-deps.sh                 install (fails when npm is missing)
#   scripts/node-deps.sh --if-possible   say why and exit 0 when npm is missing
#
# Idempotent and fast when already installed: a copy of the lockfile kept inside
# node_modules records what was installed; when it equals the lockfile nothing runs.
set -eu
cd "$(dirname "$0")/.."
dir=tests/sdk/harness
stamp="$dir/node_modules/.installed-package-lock.json"

if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    if [ "${1:-}" = "--if-possible" ]; then
        echo "node-deps: npm not found; the SDK conformance tests (tests/sdk) will skip (fail under CI)"
        exit 0
    fi
    echo "node-deps: npm not found (install Node.js >= 18 with npm)" >&2
    exit 1
fi
(cd "$dir" && npm ci --include=dev --no-audit --no-fund --loglevel=error)
cp "$dir/package-lock.json" "$stamp"
echo "node-deps: installed $(cd "$dir" && node -p 'require("connectycube/package.json").name + " " + require("connectycube/package.json").version')"
