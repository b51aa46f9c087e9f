#!/usr/bin/env bash
# Install s2s and its test tools on this machine (fresh or not), then run the test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# torch first, as the CPU build 2.13.0, unless a torch is already installed: any other
# requirement would make pip fetch gigabytes of CUDA packages.
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[dev,ct2,serve,tensorboard,browser]'

# A real browser for the tests of the page of `s2s serve` (tests/test_page.py; they skip, with the
# reason, without one): Debian's Chromium and its driver, where this machine can install them.
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q chromium chromium-driver \
        || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; } >/dev/null 2>&1 \
        || echo "warning: cannot install chromium and chromium-driver: the browser tests will skip" >&2
fi

# Real corpora for the tests that need them (they skip, with the reason, when absent).
if [ -z "${S2S_SHARED_DATA:-}" ] && [ -d ../shared/data ]; then
    S2S_SHARED_DATA="$(cd ../shared/data && pwd)"
    export S2S_SHARED_DATA
fi

exec "$PYTHON" -m pytest "$@"
