#!/usr/bin/env bash
# Set up, then lint, check the import layers, type-check and run the tests.
#   bash scripts/test.sh          everything (tests/unit + tests/integration: llama.cpp, PostgreSQL,
#                                 kill-resume, langgraph dev, Chromium, the wheel); what CI runs
#   bash scripts/test.sh --fast   tests/unit only: fake models, no services (under 90 s)
# Other arguments go to pytest. tests/conftest.py makes the units of work for pytest-xdist (the
# llama.cpp tests one unit, handed out first; then a module each), handed out in the order of the
# collection (--no-loadscope-reorder). tests/unit is CPU-bound: two workers. The full suite runs
# three on the two cores: many integration tests wait (on drpo processes, servers, retry backoff,
# a fake model's latency), and a third worker fills those waits (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=false
if [[ "${1:-}" == "--fast" ]]; then fast=true; shift; fi
if $fast; then bash scripts/setup.sh; else bash scripts/setup.sh --test; fi
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# the tests' modules compiled once (setup.sh compiles the project's): with PYTHONDONTWRITEBYTECODE
# set, the drpo processes and servers the tests start would each compile them again
python -m compileall -q -j 0 tests benchmarks >/dev/null
ruff check .
lint-imports  # the one-way layers of .importlinter
if $fast; then
  python -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder tests/unit "$@"
  exit
fi
# A private PostgreSQL cluster on 127.0.0.1 for the PostgreSQL tests.
pg_env=$(bash scripts/postgres.sh start)
PGDIR=$(sed -n 's/^PGDIR=//p' <<<"$pg_env")
trap 'bash scripts/postgres.sh stop "$PGDIR"' EXIT
export DRPO_TEST_PG_URL=$(sed -n 's/^DRPO_TEST_PG_URL=//p' <<<"$pg_env")
# mypy runs beside pytest, in the moments its workers wait. Its cache lives outside the checkout,
# so that a clean clone does not spend a CPU-minute rebuilding it (mypy checks each entry against
# the source's hash; DRPO_MYPY_CACHE moves it).
mypy_log=$(mktemp)
mypy_cache=${DRPO_MYPY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drpo/mypy}
mypy --cache-dir "$mypy_cache" drpo graph nodes retrieval evals >"$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill $mypy_pid 2>/dev/null || true; rm -f "$mypy_log"; bash scripts/postgres.sh stop "$PGDIR"' EXIT
status=0
python -m pytest -q -n 3 --dist loadgroup --no-loadscope-reorder --durations=15 "$@" || status=$?
wait $mypy_pid || status=1
cat "$mypy_log"
exit $status
