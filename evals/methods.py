"""The methods `drpo eval` compares: what system prompt and which ICL examples the base model sees.

  base                the basic prompt "You are a helpful assistant.", K=0 (Table 1 "Base")
  urial[:NAME]        URIAL inst_1k_v4 (or inst_1k, inst_only): its instruction + its K examples
  drpo                an alignment pack: its system prompt + K retrieved optimized ICL examples
  drpo-no-icl         the pack's system prompt, K=0                          (Table 3 ablation)
  drpo-basic-prompt   the basic prompt + the pack's K retrieved ICL examples (Table 3 ablation)
  upstream[:NAME]     an upstream optimized prompt (default mistral-7b-v0.1) + K=2 retrieved
                      from the upstream optimized ICL examples (transfer, Table 2)
  drpo:NAME           the pack given as --ablation NAME=PACK (e.g. from a run with
                      --prompt-reward static or --icl-reward static)
  table5              drpo and every --ablation pack: the rows of Table 5
Any retrieval method takes `@K=n` (e.g. `drpo@K=3`); the K sweep (Fig. 4) is drpo@K=0..5.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

from drpo.core.config import INITIAL_SYSTEM_PROMPT
from drpo.core.data import DATA_DIR, DataError, load_icl
from drpo.core.messages import ICLExample
from evals.benchmark import load_upstream_prompt, load_urial
from retrieval.embeddings import DEFAULT_EMBEDDING_MODEL

PACK_METHODS = ("drpo", "drpo-no-icl", "drpo-basic-prompt")
UPSTREAM_DEFAULT = "mistral-7b-v0.1"
UPSTREAM_K = 2
_NAME = re.compile(r"^(?P<kind>[a-z-]+)(?::(?P<arg>[\w.-]+))?(?:@K=(?P<k>\d+))?$")


class Method(TypedDict):
    name: str
    system_prompt: str
    K: int
    fixed: list[ICLExample]  # the same examples for every query (URIAL)
    pool: list[ICLExample]  # K nearest of these per query (DRPO)
    embedding_model: str
    source: str


class MethodError(ValueError):
    """A method name that does not resolve."""


def load_pack(path: Path) -> dict[str, Any]:
    try:
        pack = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read pack {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg})") from exc
    if not isinstance(pack, dict) or not str(pack.get("format", "")).startswith(
        "drpo-alignment-pack/"
    ):
        raise DataError(f"{path}: not an alignment pack (made by `drpo export`)")
    return pack


def k_sweep(spec: str) -> list[int]:
    """'0-5' or '0,2,4' -> K values."""
    try:
        if "-" in spec:
            low, high = (int(x) for x in spec.split("-", 1))
            values = list(range(low, high + 1))
        else:
            values = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError as exc:
        raise MethodError(f"--k-sweep expects '0-5' or '0,2,4', got {spec!r}") from exc
    if not values or min(values) < 0:
        raise MethodError(f"--k-sweep expects non-negative K values, got {spec!r}")
    return values


def _with_k(method: Method, k: int | None) -> Method:
    if k is None:
        return method
    if method["fixed"] or not method["pool"]:
        raise MethodError(f"{method['name']}: @K=n needs a method that retrieves ICL examples")
    if k > len(method["pool"]):
        raise MethodError(f"{method['name']}: K={k} is larger than the ICL pool")
    return {**method, "name": f"{method['name']}@K={k}", "K": k}


def rewards_of(pack: dict[str, Any]) -> str:
    """How a pack's run rewarded each stage (Table 5's rows differ only in this)."""
    config = pack.get("config") or {}
    run = config.get("reward", "dynamic")
    icl = (config.get("icl") or {}).get("reward") or run
    prompt = (config.get("system_prompt") or {}).get("reward") or run
    return f"system prompt: {prompt} rewards, ICL: {icl} rewards"


def resolve(
    name: str,
    pack: dict[str, Any] | None,
    pack_path: str | None = None,
    ablations: dict[str, tuple[dict[str, Any], str]] | None = None,
) -> Method:
    match = _NAME.match(name.strip())
    if not match:
        raise MethodError(f"bad method name {name!r}")
    kind, arg, k = match["kind"], match["arg"], match["k"]
    none: list[ICLExample] = []
    if kind == "base" and not arg:
        method = Method(
            name="base",
            system_prompt=INITIAL_SYSTEM_PROMPT,
            K=0,
            fixed=none,
            pool=none,
            embedding_model=DEFAULT_EMBEDDING_MODEL,
            source="basic prompt",
        )
    elif kind == "urial":
        instruction, examples = load_urial(arg or "inst_1k_v4")
        method = Method(
            name=f"urial:{arg}" if arg else "urial",
            system_prompt=instruction,
            K=len(examples),
            fixed=examples,
            pool=none,
            embedding_model=DEFAULT_EMBEDDING_MODEL,
            source=f"drpo/core/resources/urial/{arg or 'inst_1k_v4'}.txt",
        )
    elif kind == "drpo" and arg:
        if arg not in (ablations or {}):
            raise MethodError(f"method {name!r} needs --ablation {arg}=PACK.json")
        named, path = (ablations or {})[arg]
        method = {
            **resolve("drpo", named, path),
            "name": f"drpo:{arg}",
            "source": f"pack {path} ({rewards_of(named)})",
        }
    elif kind in PACK_METHODS and not arg:
        if pack is None:
            raise MethodError(f"method {kind!r} needs --pack PACK.json (from `drpo export`)")
        examples = [
            ICLExample(query=e["query"], response=e["response"]) for e in pack["icl_examples"]
        ]
        prompt = INITIAL_SYSTEM_PROMPT if kind == "drpo-basic-prompt" else pack["system_prompt"]
        method = Method(
            name=kind,
            system_prompt=prompt,
            K=0 if kind == "drpo-no-icl" else int(pack["K"]),
            fixed=none,
            pool=examples,
            embedding_model=str(pack.get("embedding_model") or DEFAULT_EMBEDDING_MODEL),
            source=f"pack {pack_path or pack.get('run_id')}",
        )
    elif kind == "upstream":
        label = arg or UPSTREAM_DEFAULT
        method = Method(
            name=f"upstream:{label}",
            system_prompt=load_upstream_prompt(label),
            K=UPSTREAM_K,
            fixed=none,
            pool=load_icl(DATA_DIR / "icl_optimized_upstream.json"),
            embedding_model=DEFAULT_EMBEDDING_MODEL,
            source=f"drpo/core/resources/upstream/{label}.optimized_prompt.txt"
            " + upstream optimized ICL",
        )
    else:
        raise MethodError(
            f"unknown method {name!r}; use base, urial[:NAME], drpo, drpo-no-icl, "
            "drpo-basic-prompt, upstream[:NAME], optionally with @K=n"
        )
    return _with_k(method, int(k) if k is not None else None)


def resolve_all(
    names: list[str],
    pack: dict[str, Any] | None,
    sweep: list[int],
    pack_path: str | None = None,
    ablations: dict[str, tuple[dict[str, Any], str]] | None = None,
) -> list[Method]:
    expanded: list[str] = []
    for n in names:  # table5: the full method and each ablation pack
        expanded += ["drpo", *(f"drpo:{a}" for a in ablations or {})] if n == "table5" else [n]
    methods = [resolve(n, pack, pack_path, ablations) for n in expanded]
    methods += [resolve(f"drpo@K={k}", pack, pack_path) for k in sweep]
    seen: set[str] = set()
    unique = []
    for m in methods:
        if m["name"] not in seen:
            seen.add(m["name"])
            unique.append(m)
    return unique
