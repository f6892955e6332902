#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv on first use (or when setup.cfg changes),
# then runs what was asked.
#   ./dev.sh example   inspect the bundled example model
#   ./dev.sh test      run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.kconvert-setup"

setup() {
    local want
    want=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return
    fi
    echo "dev.sh: setting up $VENV (first run or changed dependencies)..." >&2
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[test]'
    echo "$want" > "$STAMP"
}

case "${1:-}" in
    example)
        setup
        exec "$VENV/bin/kconvert" inspect tests/fixtures/generated/tfkeras/functional.h5
        ;;
    test)
        setup
        shift
        exec "$VENV/bin/python" -m pytest -q "$@"
        ;;
    *)
        echo "usage: ./dev.sh example | test [pytest args]" >&2
        exit 2
        ;;
esac
