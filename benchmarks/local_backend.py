"""SmolLM2 in-process (ChatLlamaCpp) vs llama-cpp-python's OpenAI-compatible server (ChatOpenAI).

Measures load/startup seconds, mean latency and generated tokens/s over N identical greedy
generations, and whether JSON-schema structured output works through the server.
Needs ``llama-cpp-python[server]``. Loopback only; the server is always killed at the end.

    python -m benchmarks.local_backend  # writes benchmarks/results/local_backend.json
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, SecretStr

from benchmarks.common import time_generations
from drpo.llm.backends.llamacpp import ChatLlamaCpp, get_llama, grammar_schema, smollm2_path
from drpo.llm.backends.structured import json_schema_format
from tests.support.processes import free_port, llama_cpp_server, stop, wait_until_up

N = 5
MAX_TOKENS = 64
N_CTX = 4096
PROMPT = "Explain in two sentences why the sky is blue."
RATE_PROMPT = "Rate from 1 to 5 how well 'Paris' answers: What is the capital of France?"
OUT = Path(__file__).parent / "results" / "local_backend.json"


class Rating(BaseModel):
    answer: str = Field(max_length=40)
    score: int = Field(ge=1, le=5)


def try_structured(label: str, call: Any) -> dict[str, Any]:
    try:
        result = call()
        return {"method": label, "ok": isinstance(result, Rating), "result": repr(result)[:200]}
    except Exception as exc:  # report, don't crash the benchmark
        return {"method": label, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:400]}


def in_process(path: str) -> dict[str, Any]:
    start = time.perf_counter()
    get_llama(path, N_CTX)
    load_s = time.perf_counter() - start
    model = ChatLlamaCpp(model_path=path, n_ctx=N_CTX, temperature=0.0, max_tokens=MAX_TOKENS)
    out = {"load_s": round(load_s, 3), **time_generations(model, PROMPT, N)}
    structured = model.with_structured_output(Rating)
    out["structured"] = try_structured(
        "ChatLlamaCpp.with_structured_output", lambda: structured.invoke(RATE_PROMPT)
    )
    return out


def server(path: str) -> dict[str, Any]:
    port = free_port()
    cmd = llama_cpp_server(path, port, N_CTX)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/v1/models", proc, 120, "the server")
        startup_s = time.perf_counter() - start
        base = f"http://127.0.0.1:{port}/v1"
        common: dict[str, Any] = {"base_url": base, "api_key": SecretStr("none"), "timeout": 120}
        # as ChatLlamaCpp samples: the server defaults to repeat_penalty=1.1, the library to 1.0
        body = {"max_tokens": MAX_TOKENS, "repeat_penalty": 1.0}
        model = ChatOpenAI(model="smollm2", temperature=0.0, extra_body=body, **common)
        out = {"startup_s": round(startup_s, 3), **time_generations(model, PROMPT, N)}
        # ChatOpenAI sends max_tokens as max_completion_tokens, which this server ignores
        capped = ChatOpenAI(model="smollm2", max_completion_tokens=8, **common).invoke(PROMPT)
        usage = capped.usage_metadata
        out["max_completion_tokens_8_gave"] = usage["output_tokens"] if usage else None
        schema = json_schema_format(Rating)["json_schema"]["schema"]
        raw = model.bind(response_format={"type": "json_object", "schema": schema})
        tight = model.bind(
            response_format={"type": "json_object", "schema": grammar_schema(schema)}
        )
        out["structured"] = [
            try_structured(
                'with_structured_output(method="json_schema")',
                lambda: model.with_structured_output(Rating, method="json_schema").invoke(
                    RATE_PROMPT
                ),
            ),
            try_structured(
                'bind(response_format={"type": "json_object", "schema": schema})',
                lambda: Rating.model_validate_json(str(raw.invoke(RATE_PROMPT).content)),
            ),
            try_structured(
                'bind(response_format={"type": "json_object", "schema": grammar_schema(schema)})',
                lambda: Rating.model_validate_json(str(tight.invoke(RATE_PROMPT).content)),
            ),
        ]
        return out
    finally:
        stop(proc, 10)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = str(smollm2_path())
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "model": Path(path).name,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in load_before],
        },
        "settings": {
            "n": N,
            "max_tokens": MAX_TOKENS,
            "temperature": 0.0,
            "n_ctx": N_CTX,
            "prompt": PROMPT,
        },
        "in_process": in_process(path),
        "server": server(path),
    }
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    results["same_greedy_text"] = results["in_process"]["text"] == results["server"]["text"]
    server_structured = results["server"]["structured"]
    results["json_schema_through_server"] = server_structured[0]["ok"]
    results["json_object_schema_through_server"] = server_structured[-1]["ok"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")

    print(f"{'backend':<12}{'load/start s':>14}{'first s':>9}{'mean s':>9}{'tok/s':>8}")
    for name, load_key in (("in_process", "load_s"), ("server", "startup_s")):
        r = results[name]
        print(
            f"{name:<12}{r[load_key]:>14}{r['first_call_s']:>9}{r['mean_latency_s']:>9}"
            f"{r['tokens_per_s']:>8}"
        )
    print(f"same greedy text: {results['same_greedy_text']}")
    for item in [results["in_process"]["structured"], *server_structured]:
        status = "ok" if item["ok"] else str(item.get("error")).splitlines()[0]
        print(f"structured {item['method']}: {status}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
