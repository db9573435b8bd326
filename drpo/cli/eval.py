"""`drpo eval`, `drpo judge-check`, `drpo report`: the just-eval-instruct harness (evals/).

Outputs live in RUN_DIR/evals/<eval-id>/ (result.json, report.md, PNG plots); judge checks in
RUN_DIR/judge_checks/<judge>.json; finished answers and judgings in RUN_DIR/eval_cache.sqlite,
so an evaluation run again (after a kill, or with another judge) redoes only what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from drpo.core.config import Sampling
from drpo.llm.backends.completion import checked_spec
from drpo.llm.backends.registry import SpecError
from drpo.runtime.runner import Run, summary


class EvalUsageError(ValueError):
    """Bad eval arguments (one line on stderr, exit 2)."""


def add_parsers(sub: Any) -> None:
    ev = sub.add_parser("eval", help="evaluate methods on just-eval-instruct with a judge")
    ev.add_argument("--methods", help="comma list: base, urial[:NAME], drpo, drpo-no-icl, "
                    "drpo-basic-prompt, upstream[:NAME], any with @K=n (default: base,urial "
                    "and drpo when --pack is given)")  # fmt: skip
    ev.add_argument("--pack", type=Path, help="alignment pack from `drpo export`")
    ev.add_argument(
        "--ablation",
        action="append",
        default=[],
        metavar="NAME=PACK",
        help="another pack, evaluated as method drpo:NAME (Table 5: --methods table5)",
    )
    ev.add_argument("--k-sweep", help="add drpo@K=n for these K, e.g. 0-5 (Fig. 4)")
    ev.add_argument("--base", default="local", help="model spec of the base model")
    ev.add_argument("--judge", default="local", help="model spec of the evaluation judge")
    ev.add_argument(
        "--allow-self-judge",
        action="store_true",
        help="let a judge that also judged a pack's optimization grade it (the report says so)",
    )
    ev.add_argument("--data", default="dev", help="dev (100 vendored items), hf, or a JSONL path")
    ev.add_argument("--limit", type=int, help="first N items (by id)")
    ev.add_argument("--ids", help="comma list of item ids")
    ev.add_argument("--eval-id", help="output folder name (default: eval-<time>)")
    ev.add_argument("--concurrency", type=int, default=4, help="tasks in flight")
    ev.add_argument("--retries", type=int, default=3, help="attempts per judge reply")
    ev.add_argument("--max-tokens", type=int, default=Sampling().base_max_tokens)
    ev.add_argument("--judge-max-tokens", type=int, default=Sampling().json_max_tokens)
    ev.add_argument("--run-dir", type=Path, default=Path("runs"))
    ev.set_defaults(handler=_eval)

    jc = sub.add_parser("judge-check", help="measure a judge: pair ordering, spread, parsing")
    jc.add_argument("--judge", required=True, help="model spec of the judge")
    jc.add_argument("--pairs", type=int, default=5, help="good answers (each with 3 degraded)")
    jc.add_argument("--repeats", type=int, default=3, help="judgings of each good answer")
    jc.add_argument("--retries", type=int, default=3)
    jc.add_argument("--max-tokens", type=int, default=Sampling().json_max_tokens)
    jc.add_argument("--concurrency", type=int, default=4)
    jc.add_argument("--run-dir", type=Path, default=Path("runs"))
    jc.set_defaults(handler=_judge_check)

    rp = sub.add_parser("report", help="combine eval results into one report, or plot a run")
    rp.add_argument("results", nargs="*", type=Path, help="result.json files of `drpo eval`")
    rp.add_argument("--run", help="an optimization run id: plot reward by depth and aspects")
    rp.add_argument("-o", "--output", type=Path, help="output folder")
    rp.add_argument("--run-dir", type=Path, default=Path("runs"))
    rp.set_defaults(handler=_report)


def _spec(flag: str, spec: str) -> str:
    try:
        checked_spec(spec, flag.removeprefix("--"))  # --base or --judge: the role's rule
    except SpecError as exc:
        raise EvalUsageError(f"{flag}: {exc}") from exc
    return spec


def _positive(flag: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise EvalUsageError(f"{flag} must be at least {minimum}, got {value}")


def judge_slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec)[:120]


def _judge_checks(run_dir: Path, judge: str) -> dict[str, str]:
    from evals.judge_check import describe

    path = run_dir / "judge_checks" / f"{judge_slug(judge)}.json"
    if not path.is_file():
        return {judge: f"not measured; run `drpo judge-check --judge {judge}` first"}
    return {judge: describe(json.loads(path.read_text(encoding="utf-8")))}


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


async def _eval(args: argparse.Namespace) -> int:
    from evals.benchmark import load_items
    from evals.methods import k_sweep, load_pack, resolve_all
    from evals.report import table1, write_report
    from evals.self_judge import judges_block, optimizing_judges, self_judge_error

    base, judge = _spec("--base", args.base), _spec("--judge", args.judge)
    for flag in ("limit", "concurrency", "retries"):
        _positive(f"--{flag}", getattr(args, flag))
    _positive("--max-tokens", args.max_tokens, 16)
    _positive("--judge-max-tokens", args.judge_max_tokens, 64)
    pack = load_pack(args.pack) if args.pack else None
    names = (args.methods or ("base,urial,drpo" if pack else "base,urial")).split(",")
    sweep = k_sweep(args.k_sweep) if args.k_sweep else []
    ablations = {}
    for item in args.ablation:
        label, sep, path = item.partition("=")
        if not (sep and label and path):
            raise EvalUsageError(f"--ablation expects NAME=PACK.json, got {item!r}")
        ablations[label] = (load_pack(Path(path)), path)
    packs = {"drpo": pack} if pack else {}
    packs |= {f"drpo:{label}": p for label, (p, _) in ablations.items()}
    for given in packs.values():  # evals/self_judge.py: before anything is written
        if error := self_judge_error(optimizing_judges(given), judge, args.allow_self_judge):
            raise EvalUsageError(error)
    names = [n for n in names if n.strip()]
    methods = resolve_all(names, pack, sweep, str(args.pack), ablations)
    try:
        ids = [int(x) for x in args.ids.split(",")] if args.ids else None
    except ValueError as exc:
        raise EvalUsageError(f"--ids expects comma-separated integers, got {args.ids!r}") from exc
    items = load_items(args.data, args.limit, ids)
    if not items:
        raise EvalUsageError("no benchmark items selected")
    eval_id = args.eval_id or time.strftime("eval-%Y%m%d-%H%M%S")
    if not eval_id or "/" in eval_id or eval_id.startswith("."):
        raise EvalUsageError(f"invalid eval id {eval_id!r}")
    folder = args.run_dir / "evals" / eval_id
    print(
        f"eval {eval_id}: {len(methods)} method(s) x {len(items)} item(s), base {base}, "
        f"judge {judge} -> {folder}",
        flush=True,
    )
    try:
        result = await _run_eval(args, methods, items, base, judge)
    except Exception as exc:  # a model/provider failure: the cache keeps what finished
        print(
            f"drpo: eval failed: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}\n"
            "Run the same command again to continue; finished items come from the cache.",
            file=sys.stderr,
        )
        return 1
    result |= {"eval_id": eval_id, "data": args.data, "pack": str(args.pack) if pack else None}
    result["judges"] = judges_block(judge, packs, args.allow_self_judge)
    checks = _judge_checks(args.run_dir, judge)
    result["judge_check"] = checks[judge]
    _write_json(folder / "result.json", result)
    report, plots = write_report([result], folder, checks)
    print(table1([{**m, "label": m["name"]} for m in result["methods"]]))
    print(f"judge check: {checks[judge]}")
    if graded := result["judges"]["self_graded"]:
        print(f"SELF-GRADED (--allow-self-judge): {judge} also optimized {', '.join(graded)}")
    print(f"wrote {folder / 'result.json'}, {report}, " + ", ".join(p.name for p in plots))
    return 0


async def _run_eval(
    args: argparse.Namespace, methods: list[Any], items: list[Any], base: str, judge: str
) -> dict[str, Any]:
    from evals.run import evaluate

    return await evaluate(
        methods,
        items,
        {
            "base_model": base,
            "judge_model": judge,
            "base_max_tokens": args.max_tokens,
            "judge_max_tokens": args.judge_max_tokens,
        },
        cache_path=args.run_dir / "eval_cache.sqlite",
        index_cache_dir=args.run_dir / "index_cache",
        retries=args.retries,
        concurrency=args.concurrency,
    )


async def _judge_check(args: argparse.Namespace) -> int:
    from evals.judge_check import check_metrics, check_tasks, describe, reference_pairs
    from evals.run import run_judging

    judge = _spec("--judge", args.judge)
    for flag in ("pairs", "repeats", "retries", "concurrency"):
        _positive(f"--{flag}", getattr(args, flag))
    _positive("--max-tokens", args.max_tokens, 64)
    pairs = reference_pairs(args.pairs)
    if len(pairs) < args.pairs:
        raise EvalUsageError(f"--pairs: only {len(pairs)} reference answers are available")
    tasks = check_tasks(pairs, judge, args.repeats, args.max_tokens)
    print(f"judge-check {judge}: {len(tasks)} judgings ({args.pairs} pairs)", flush=True)
    results, calls = await run_judging(
        tasks,
        cache_path=args.run_dir / "eval_cache.sqlite",
        retries=args.retries,
        concurrency=args.concurrency,
    )
    check = {
        "judge": judge,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "repeats": args.repeats,
        "metrics": check_metrics(results),
        "results": results,
        "calls_made": calls,
    }
    path = args.run_dir / "judge_checks" / f"{judge_slug(judge)}.json"
    _write_json(path, check)
    print(describe(check))
    print(f"wrote {path}")
    return 0


async def _report(args: argparse.Namespace) -> int:
    from evals.plots import run_plots
    from evals.report import table1, write_report

    if not args.results and not args.run:
        raise EvalUsageError("give result.json files and/or --run RUN_ID")
    written: list[Path] = []
    if args.results:
        results = []
        for path in args.results:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise EvalUsageError(f"{path}: cannot read an eval result ({exc})") from exc
            if not isinstance(data, dict) or data.get("format") != "drpo-eval/1":
                raise EvalUsageError(f"{path}: not a result of `drpo eval`")
            results.append(data)
        folder = args.output or args.results[0].parent
        checks: dict[str, str] = {}
        for r in results:
            checks |= _judge_checks(args.run_dir, r["models"]["judge"])
        report, plots = write_report(results, folder, checks)
        rows = [
            {**m, "label": f"{m['name']} ({r['models']['base']})"}
            for r in results
            for m in r["methods"]
        ]
        print(table1(rows))
        written += [report, *plots]
    if args.run:
        run = Run(args.run_dir, args.run)
        run.load()
        folder = args.output or run.dir
        folder.mkdir(parents=True, exist_ok=True)
        written += run_plots(await summary(run), folder)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
