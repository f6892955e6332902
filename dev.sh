#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv on first use (or when setup.cfg changes),
# installs the TF.js harness's Node packages (when its lockfile changes) and Chromium (once, where
# apt-get can), builds the Deeplearning4j harness (when its pom or sources change), then runs what
# was asked.
#   ./dev.sh example   inspect a bundled example model, convert a Keras 1 one to a Keras 3 archive and
#                      one to TF.js, verifying each in the real Keras / TF.js
#   ./dev.sh test      run the whole test suite (a worker per core)
#   ./dev.sh setup     only create .venv, the TF.js and DL4J harnesses and Chromium (e.g. in a CI job)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.kconvert-setup"

# Run a command with its output set aside, shown only when it fails: some tools (npm's "added N
# packages") print a summary on success that no option short of hiding their errors too turns off.
quietly() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    [ "$status" = 0 ] || cat "$log" >&2
    rm -f "$log"
    return "$status"
}

setup() {
    local want
    want=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return
    fi
    echo "dev.sh: setting up $VENV (first run or changed dependencies)..." >&2
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
    echo "$want" > "$STAMP"
}

# The real @tensorflow/tfjs that converted models are proven in (pure JavaScript, CPU backend).
HARNESS=kconvert/verification/tfjs_harness
setup_node() {
    local want stamp="$HARNESS/node_modules/.kconvert-setup"
    if ! command -v npm >/dev/null 2>&1; then
        echo "dev.sh: npm not found: TF.js outputs cannot be checked (tests needing it skip; under CI=true they fail)" >&2
        return
    fi
    want=$(sha256sum "$HARNESS/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    echo "dev.sh: installing the TF.js harness (npm ci)..." >&2
    quietly npm ci --prefix "$HARNESS" --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
}

# Headless Chromium, in which converted models are also proven as a TF.js user's page runs them
# (tests/test_tfjs_browser.py). Debian's package, installed once where apt-get and root (or
# password-less sudo) are; any Chromium or Chrome already on the PATH, or $KCONVERT_CHROMIUM, does.
setup_browser() {
    local name sudo=""
    for name in "${KCONVERT_CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
        if [ -n "$name" ] && command -v "$name" >/dev/null 2>&1; then
            return
        fi
    done
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
    fi
    if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; }; then
        echo "dev.sh: Chromium not found and cannot be installed here (needs apt-get as root):" \
            "browser tests skip (under CI=true they fail)" >&2
        return
    fi
    echo "dev.sh: installing Chromium (apt-get install chromium)..." >&2
    local log
    log=$(mktemp)
    if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            -o DPkg::Lock::Timeout=300 --no-install-recommends chromium; } >"$log" 2>&1; then
        echo "dev.sh: installing Chromium failed: $(tail -n 1 "$log")" >&2
    fi
    rm -f "$log"
}

# The real Deeplearning4j (1.0.0-M2.1, Maven Central) that DL4J exports are proven in; offline
# (mvn -o) once its jars are in ~/.m2.  The stamp is the hash dl4j_install.source_hash computes.
DL4J=kconvert/verification/dl4j_harness
setup_dl4j() {
    local want stamp="$DL4J/target/.kconvert-setup"
    if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
        echo "dev.sh: java or mvn not found: DL4J exports cannot be checked in Deeplearning4j (tests needing it skip; under CI=true they fail)" >&2
        return
    fi
    want=$(cd "$DL4J" && cat pom.xml $(find src -type f | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    echo "dev.sh: building the Deeplearning4j harness (Maven)..." >&2
    local goals=(package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt)
    if ! (cd "$DL4J" && { mvn -q -B -o "${goals[@]}" >/dev/null 2>&1 || mvn -q -B "${goals[@]}" >&2; }); then
        echo "dev.sh: building the Deeplearning4j harness failed (see above): DL4J tests skip; under CI=true they fail" >&2
        return
    fi
    echo "$want" > "$stamp"
}

case "${1:-}" in
    example)
        setup
        setup_node
        setup_dl4j
        "$VENV/bin/kconvert" inspect tests/fixtures/generated/tfkeras/functional.h5
        "$VENV/bin/kconvert" tests/fixtures/keras1/highway_maxout.h5 --to keras build/example.keras \
            --overwrite --verify
        exec "$VENV/bin/kconvert" tests/fixtures/generated/tfkeras/mlp.h5 --to tfjs build/example-tfjs \
            --overwrite --verify
        ;;
    test)
        setup
        setup_node
        setup_browser
        setup_dl4j
        shift
        # one pytest worker per core (pytest-xdist); KCONVERT_TEST_WORKERS=0 runs in this process
        # --dist loadgroup: the tests of one xdist_group (the Ray cluster's) share one worker
        exec "$VENV/bin/python" -m pytest -q -n "${KCONVERT_TEST_WORKERS:-auto}" --dist loadgroup "$@"
        ;;
    setup)
        setup
        setup_node
        setup_browser
        setup_dl4j
        ;;
    *)
        echo "usage: ./dev.sh example | test [pytest args] | setup" >&2
        exit 2
        ;;
esac
