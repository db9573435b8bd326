#!/usr/bin/env bash
# Set up, then run a small real DRPO optimization on the embedded local models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
run_id="demo-$(date +%Y%m%d-%H%M%S)"
time drpo optimize --run-id "$run_id" --icl 4 --icl-D 1 -W 2 -M 2 -D 2 --seeds 3 "$@"
mkdir -p packs  # packs live outside the run dir: `drpo export` never writes into a run
drpo export "$run_id" -o "packs/$run_id.json"
