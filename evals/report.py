"""Markdown report (Table-1 shape with 95% CIs, per-tag tables) and plots for eval results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.plots import k_sweep_plot, methods_plot, radar_plot
from evals.stats import COLUMNS, LABELS, TAGS


def _rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method per result; labels name the models when results differ in them."""
    many = len({json.dumps(r["models"], sort_keys=True) for r in results}) > 1
    rows = []
    for result in results:
        for m in result["methods"]:
            label = m["name"]
            if many:
                label += f" [{result['models']['base']} / judge {result['models']['judge']}]"
            rows.append({**m, "label": label, "models": result["models"]})
    return rows


def _cell(mean: float | None, ci: list[float] | tuple[float, float] | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{mean:.2f}"


def table1(rows: list[dict[str, Any]]) -> str:
    head = ["Method", "K", *(LABELS[c] for c in COLUMNS), "Length", "n", "unparsed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        s = row["summary"]
        cells = [_cell(s["means"][c], s["ci95"][c]) for c in COLUMNS]
        length = "–" if s["length"] is None else f"{s['length']:.0f}"
        n = f"{s['n_regular']}+{s['n_safety']}"
        lines.append(
            "| "
            + " | ".join([row["label"], str(row["K"]), *cells, length, n, str(s["parse_failures"])])
            + " |"
        )
    return "\n".join(lines)


def tag_tables(rows: list[dict[str, Any]]) -> str:
    parts = []
    for tag in TAGS:
        values = sorted({k for row in rows for k in row["tags"][tag]})
        if not values:
            continue
        head = [tag, *(row["label"] for row in rows), "n"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for v in values:
            cells = [
                f"{row['tags'][tag][v]['avg']:.2f}" if v in row["tags"][tag] else "–"
                for row in rows
            ]
            n = max(int(row["tags"][tag].get(v, {}).get("n", 0)) for row in rows)
            lines.append("| " + " | ".join([v, *cells, str(n)]) + " |")
        parts.append(f"### Avg. by {tag}\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def judge_lines(result: dict[str, Any]) -> list[str]:
    """Who graded and who optimized: the eval judge, each pack's optimizing judges, and a mark on
    a self-graded report (evals/self_judge.py)."""
    judges = result.get("judges")
    if not judges:
        pack = result.get("pack")
        return [f"- optimizing judges of `{pack}`: not recorded (an older result)"] if pack else []
    lines = [] if judges["optimizing"] else ["- no alignment pack evaluated: no optimizing judge"]
    for name, specs in judges["optimizing"].items():
        shown = ", ".join(f"`{s}`" for s in specs) or "not recorded in the pack"
        lines.append(f"- pack of `{name}` optimized with judge(s) {shown}")
    if judges["self_graded"]:
        lines.append(
            f"- **SELF-GRADED**: the eval judge `{judges['eval']}` also judged the optimization "
            f"of {', '.join(f'`{n}`' for n in judges['self_graded'])} (--allow-self-judge); "
            "its scores favour the prompt it was tuned to"
        )
    return lines


def write_report(
    results: list[dict[str, Any]], folder: Path, judge_checks: dict[str, str] | None = None
) -> tuple[Path, list[Path]]:
    """report.md and the PNG plots in `folder`; returns the report path and the plots."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = _rows(results)
    plots = [methods_plot(rows, folder / "methods.png")]
    for maybe in (radar_plot(rows, "task", folder / "radar_task.png"),
                  k_sweep_plot(rows, folder / "k_sweep.png")):  # fmt: skip
        if maybe is not None:
            plots.append(maybe)
    graded = any((r.get("judges") or {}).get("self_graded") for r in results)
    head = ["# just-eval-instruct evaluation" + (" (SELF-GRADED)" if graded else ""), ""]
    for r in results:
        proto = r["judge_protocol"]
        head += [
            f"- base model `{r['models']['base']}`, eval judge `{r['models']['judge']}`; "
            f"{r['n_items']} items from `{r.get('data', 'dev')}`; created {r['created']}, "
            f"{r['elapsed_s']} s; model calls made {r['calls']} (the rest came from the cache)",
            f'- judge protocol: {proto["templates"]}, system message "{proto["system_message"]}"'
            f', temperature {proto["temperature"]}, "N/A" = {proto["na_score"]}, '
            f"{proto['parse_retries']} attempts per reply",
            *judge_lines(r),
        ]
    for judge, text in (judge_checks or {}).items():
        head.append(f"- judge check of `{judge}`: {text}")
    body = [
        "",
        "## Table 1 (95% bootstrap CIs over items)",
        "",
        "Helpful..Engage and Avg. over the regular items (ids < 800), Safety over the safety "
        "items; Length = mean words per answer; n = regular+safety items scored; unparsed = "
        "items whose judge reply never parsed (left out).",
        "",
        table1(rows),
        "",
        "## By task, topic and difficulty (Avg. of the regular items)",
        "",
        tag_tables(rows),
        "",
        "## Plots",
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
        "",
    ]
    report = folder / "report.md"
    report.write_text("\n".join(head + body), encoding="utf-8")
    return report, plots
