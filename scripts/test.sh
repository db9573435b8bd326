#!/usr/bin/env bash
# Set up, then lint, type-check and run the whole test suite (real local models included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check .
mypy drpo graph nodes retrieval evals
python -m pytest -q "$@"
