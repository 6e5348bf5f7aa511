"""Plain-text summaries of loaded results for the terminal."""

from __future__ import annotations

import json

import pandas as pd

RECALL_TARGET = 0.9


def summary_table(results: pd.DataFrame) -> str:
    """One line per run: parameters, recall, QPS, latency, build time, size; failures last."""
    if results.empty:
        return "no results"
    ok = results[results["status"] == "ok"].copy()
    lines = []
    if not ok.empty:
        ok["parameters"] = [
            _parameters(b, q) for b, q in zip(ok["build_args"], ok["query_args"], strict=True)
        ]
        table = pd.DataFrame(
            {
                "algorithm": ok["algorithm"],
                "parameters": ok["parameters"],
                "recall": ok["recall"].round(4),
                "QPS": ok["qps"].round(1),
                "p50 ms": (ok["p50_latency"] * 1e3).round(3),
                "p99 ms": (ok["p99_latency"] * 1e3).round(3),
                "build s": ok["build_time"].round(2),
                "index MiB": (ok["index_size"] / 2**20).round(1),
                "build_args": ok["build_args"],
            }
        ).sort_values(
            ["algorithm", "build_args", "recall", "QPS"], ascending=[True, True, True, False]
        )
        table = table.drop(columns="build_args")
        lines.append(table.to_string(index=False))
        lines.append("")
        lines.append(best_at_recall(ok))
    failed = results[results["status"] != "ok"]
    for _, row in failed.iterrows():
        first_line = str(row.get("failure_detail", "")).splitlines()[:1]
        lines.append(
            f"FAILED {row['algorithm']} {_parameters(row['build_args'], row['query_args'])}: "
            f"{row.get('failure_cause', row['status'])}: {' '.join(first_line)}"
        )
    return "\n".join(lines)


def best_at_recall(ok: pd.DataFrame, target: float = RECALL_TARGET) -> str:
    """Per algorithm, the best QPS among runs with recall >= target (the leaderboard figure)."""
    lines = [f"best QPS at recall >= {target}:"]
    for algorithm, runs in ok.groupby("algorithm"):
        good = runs[runs["recall"] >= target]
        if good.empty:
            lines.append(f"  {algorithm}: none (best recall {runs['recall'].max():.3f})")
        else:
            best = good.loc[good["qps"].idxmax()]
            lines.append(
                f"  {algorithm}: {best['qps']:.0f} QPS at recall {best['recall']:.3f} "
                f"({_parameters(best['build_args'], best['query_args'])})"
            )
    return "\n".join(lines)


def _parameters(build_args: str, query_args: str) -> str:
    parts = []
    for text in (build_args, query_args):
        value = json.loads(text) if isinstance(text, str) else text
        if isinstance(value, dict):
            parts.extend(f"{k}={v}" for k, v in value.items())
        elif value:
            parts.extend(map(str, value))
    return " ".join(parts) or "-"
