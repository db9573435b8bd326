"""Benchmark 5: the embedded default. Tokens/s of the local model (SmolLM2-135M, llama.cpp
in-process) and the wall time of the README demo run (the ``drpo optimize`` line of
scripts/demo.sh, in a fresh temporary run dir). CPU-heavy: minutes on 2 cores.

    python -m benchmarks embedded
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import time_generations, write_result

N, MAX_TOKENS = 5, 128
PROMPT = "Explain in a short paragraph how vaccines train the immune system."
DEMO = Path(__file__).parents[1] / "scripts" / "demo.sh"


def tokens_per_second() -> dict[str, Any]:
    from drpo.llm.backends import get_chat_model

    start = time.perf_counter()
    model = get_chat_model("local").bind(temperature=0.0, max_tokens=MAX_TOKENS)
    built_s = time.perf_counter() - start
    timed = time_generations(model, PROMPT, N)  # its first call loads the weights once
    return {
        "model": "local (SmolLM2-135M-Instruct Q4_1)",
        "first_call_s_with_load": round(built_s + timed["first_call_s"], 3),
        **{k: timed[k] for k in ("mean_latency_s", "output_tokens", "tokens_per_s")},
    }


def demo_args() -> list[str]:
    """The optimize arguments of the README demo, read from scripts/demo.sh."""
    line = next(ln for ln in DEMO.read_text().splitlines() if "drpo optimize" in ln)
    args = shlex.split(line.split("drpo optimize", 1)[1])
    args = [a for a in args if a not in ('"$@"', "$@")]
    i = args.index("--run-id")
    return args[:i] + args[i + 2 :]


def demo_run() -> dict[str, Any]:
    args = demo_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "drpo.cli", "optimize", "--run-dir", tmp, "--run-id", "demo"]
        start = time.perf_counter()
        done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        shown = subprocess.run(
            [sys.executable, "-m", "drpo.cli", "show", "demo", "--run-dir", tmp, "--json"],
            capture_output=True,
            text=True,
            env=env,
        )
    result = json.loads(shown.stdout) if shown.returncode == 0 else {}
    return {
        "args": args,
        "returncode": done.returncode,
        "wall_s": round(wall, 1),
        "target_s": 600,
        "status": result.get("status"),
        "calls": result.get("calls"),
        "usage": result.get("usage"),
        "stderr_tail": re.sub(r"\s+", " ", done.stderr[-400:]) if done.returncode else "",
    }


def main() -> dict[str, Any]:
    speed = tokens_per_second()
    print(f"local model: {speed['tokens_per_s']} tokens/s ({speed['mean_latency_s']} s per call)")
    demo = demo_run()
    print(f"README demo: {demo['wall_s']} s wall (target < 600 s), exit {demo['returncode']}")
    data = {"local_model": speed, "demo": demo}
    write_result("embedded", data)
    return data


if __name__ == "__main__":
    main()
