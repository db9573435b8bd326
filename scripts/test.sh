#!/usr/bin/env bash
# Set up, then lint, type-check and run the whole test suite (real local models included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# A private PostgreSQL cluster on 127.0.0.1 for tests/test_postgres.py and test_security.py.
pg_env=$(bash scripts/postgres.sh start)
PGDIR=$(sed -n 's/^PGDIR=//p' <<<"$pg_env")
trap 'bash scripts/postgres.sh stop "$PGDIR"' EXIT
export DRPO_TEST_PG_URL=$(sed -n 's/^DRPO_TEST_PG_URL=//p' <<<"$pg_env")
ruff check .
lint-imports  # the one-way layers of .importlinter
mypy drpo graph nodes retrieval evals
python -m pytest -q "$@"
