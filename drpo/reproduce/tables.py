"""A reproduced table in the paper's layout: per-row means with 95% bootstrap CIs, and each
row's paired difference to the baseline row on the same items (evals/paired.py), as Markdown,
CSV, JSON and a PNG plot."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drpo.core.files import write_atomic
from drpo.reproduce.plan import TablePlan
from evals.paired import PAIRED_COLUMNS, paired_table
from evals.stats import COLUMNS, LABELS

FORMAT = "drpo-reproduce/1"


def _cell(mean: float | None, ci: Any) -> str:
    if mean is None:
        return "–"
    return f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{mean:.2f}"


def _diff(d: dict[str, Any] | None) -> str:
    if d is None:
        return "–"
    lo, hi = d["ci95"]
    return f"{d['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def assemble(
    plan: TablePlan, results: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    """``results``: the eval result per answering model ("base", "tuned"), as evals/run.py
    `evaluate` returns it. The table's rows with their summaries and paired differences."""
    rows_by_key: dict[str, list[Mapping[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    for planned in plan.rows:
        result = results[planned.model]
        block = next(m for m in result["methods"] if m["name"] == planned.method)
        rows_by_key[planned.key] = [i for i in result["items"] if i["method"] == planned.method]
        rows.append(
            {
                "key": planned.key,
                "label": planned.label,
                "method": planned.method,
                "run": planned.run,
                "model": result["models"]["base"],
                "K": block["K"],
                "summary": block["summary"],
            }
        )
    diffs = paired_table(rows_by_key, plan.baseline)
    for row in rows:
        row["paired"] = diffs.get(row["key"])  # None for the baseline row
    return {
        "format": FORMAT,
        "table": plan.table,
        "title": plan.title,
        "baseline": plan.baseline,
        **meta,
        "rows": rows,
        "evaluations": results,
    }


def markdown(table: dict[str, Any]) -> str:
    base = next(r for r in table["rows"] if r["key"] == table["baseline"])
    head = [
        "Row",
        "Method",
        "K",
        *(LABELS[c] for c in COLUMNS),
        "Length",
        *(f"Δ {LABELS[c]} vs {base['label']}" for c in PAIRED_COLUMNS),
        "n",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table["rows"]:
        s = row["summary"]
        paired = row["paired"] or {}
        cells = [_cell(s["means"][c], s["ci95"][c]) for c in COLUMNS]
        length = "–" if s["length"] is None else f"{s['length']:.0f}"
        deltas = [
            "(baseline)" if row["paired"] is None else _diff(paired.get(c)) for c in PAIRED_COLUMNS
        ]
        n = f"{s['n_regular']}+{s['n_safety']}"
        lines.append(
            "| "
            + " | ".join(
                [row["label"], f"`{row['method']}`", str(row["K"]), *cells, length, *deltas, n]
            )
            + " |"
        )
    judges = ", ".join(f"`{j}`" for j in table["optimizing_judges"])
    about = [
        f"# {table['title']}",
        "",
        f"- models of the runs: {', '.join(f'{r} `{s}`' for r, s in table['models'].items())}"
        + (f"; tuned model `{table['tuned']}`" if table.get("tuned") else ""),
        f"- optimizing judge(s): {judges}; eval judge: `{table['eval_judge']}`"
        + (" (self-judging allowed by --allow-self-judge)" if table.get("self_judge") else ""),
        f"- {table['n_items']} items of `{table['data']}`, the same for every row; runs: "
        + ", ".join(f"`{r}`" for r in table["runs"]),
        *(f"- {note}" for note in table.get("notes", [])),
        "",
        "Means with 95% bootstrap CIs over items; Δ: the row's score minus the baseline row's, "
        "per item (paired), mean with a 95% bootstrap CI over items; n = regular+safety items "
        "scored.",
        "",
    ]
    return "\n".join(about + lines) + "\n"


def csv_text(table: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ["row", "label", "method", "model", "K", "run"]
    for c in COLUMNS:
        head += [c, f"{c}_ci_low", f"{c}_ci_high"]
    head += ["length", "n_regular", "n_safety", "unparsed"]
    for c in PAIRED_COLUMNS:
        head += [f"diff_{c}", f"diff_{c}_ci_low", f"diff_{c}_ci_high", f"diff_{c}_n"]
    w.writerow(head)
    for row in table["rows"]:
        s = row["summary"]
        line = [row["key"], row["label"], row["method"], row["model"], row["K"], row["run"] or ""]
        for c in COLUMNS:
            ci = s["ci95"][c] or ("", "")
            line += [_num(s["means"][c]), _num(ci[0]), _num(ci[1])]
        line += [_num(s["length"]), s["n_regular"], s["n_safety"], s["parse_failures"]]
        for c in PAIRED_COLUMNS:
            d = (row["paired"] or {}).get(c)
            line += (
                [_num(d["mean"]), _num(d["ci95"][0]), _num(d["ci95"][1]), d["n"]]
                if d
                else ["", "", "", ""]
            )
        w.writerow(line)
    return out.getvalue()


def _num(value: Any) -> str:
    return "" if value is None or value == "" else f"{float(value):.4f}"


def write(table: dict[str, Any], out: Path) -> list[Path]:
    """table.md, table.csv, result.json and paired.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "table.md", out / "table.csv", out / "result.json"]
    write_atomic(paths[0], markdown(table))
    write_atomic(paths[1], csv_text(table))
    write_atomic(paths[2], json.dumps(table, indent=1, ensure_ascii=False))
    from evals.plots import paired_plot  # matplotlib: a second to import, for the plot only

    return [*paths, paired_plot(table, out / "paired.png")]
