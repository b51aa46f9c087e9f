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
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[dev,ct2,serve]'

# Real corpora for the tests that need them (they skip, with the reason, when absent).
if [ -z "${S2S_SHARED_DATA:-}" ] && [ -d ../shared/data ]; then
    S2S_SHARED_DATA="$(cd ../shared/data && pwd)"
    export S2S_SHARED_DATA
fi

exec "$PYTHON" -m pytest "$@"
