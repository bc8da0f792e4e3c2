#!/usr/bin/env bash
# The unit suites (core, chat, REST, the server role, the local server) on every other
# Python the package claims (requires-python >= 3.10): 3.10, 3.12 and 3.13, each in its
# own virtualenv .venv-3.X with the dev and server extras (slixmpp, of `bench`, needs
# 3.11: the tests that use it are left out there); the full integration suite
# (ejabberd, the official SDK) runs on .venv's Python only.  `make test` runs this.
#
#   scripts/other-pythons.sh            # every version in $PYTHON_VERSIONS
#   PYTHON_VERSIONS=3.12 scripts/other-pythons.sh
#
# An interpreter is looked up in pyenv's versions, then as python3.X on PATH.  A missing one
# is skipped with a message, except under CI (set by .ci/run), where it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS="${PYTHON_VERSIONS:-3.10 3.12 3.13}"
PYENV_VERSIONS="${PYENV_ROOT:-$HOME/.pyenv}/versions"
# Of the adapters, the HTTP clients (against a loopback server; the chat clients' suites
# need ejabberd).
SUITES=(tests/core tests/chat tests/rest tests/server tests/localserver tests/package
    tests/transports/test_http_adapters.py)
# The core against ejabberd (tests/core/integration) is of the integration suite; the
# packaging tests build wheels with .venv's tools, once is enough.
IGNORED=(--ignore=tests/core/integration --ignore=tests/package/test_packaging.py)
# slixmpp (the `bench` extra, a peer of some local-server tests) needs Python 3.11.
for test_file in $(grep -l -E "import slixmpp|from \.slix import" tests/localserver/*.py tests/server/*.py 2>/dev/null); do
    IGNORED+=("--ignore=$test_file")
done

find_python() {
    # pyenv's versions first: its shims are on PATH but may not be active for a version.
    local version="$1" candidate
    for candidate in \
        "$(ls -d "$PYENV_VERSIONS/$version".*/bin/"python$version" 2>/dev/null | sort -V | tail -1)" \
        "$(command -v "python$version" || true)"; do
        if [ -n "$candidate" ] && "$candidate" -c "import sys" >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

for version in $VERSIONS; do
    if ! python="$(find_python "$version")"; then
        if [ -n "${CI:-}" ]; then
            echo "other-pythons: no python$version on this machine (CI must test it)" >&2
            exit 1
        fi
        echo "other-pythons: skipping $version: no python$version on PATH or in $PYENV_VERSIONS"
        continue
    fi
    venv=".venv-$version"
    if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
        echo "other-pythons: making $venv with $python"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip
        "$venv/bin/python" -m pip install -q -e '.[dev,server]'
        touch "$venv/.installed"
    fi
    echo "other-pythons: $("$venv/bin/python" --version): ${SUITES[*]}"
    # The long hypothesis profile (10,000 state-machine examples) runs once, on .venv.
    CUBEPROTO_HYPOTHESIS_PROFILE=dev \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider "${IGNORED[@]}" "${SUITES[@]}"
done
