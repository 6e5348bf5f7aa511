"""Plain-text summaries of loaded results for the terminal."""

from __future__ import annotations

import json

import pandas as pd

RECALL_TARGET = 0.9


def summary_table(results: pd.DataFrame) -> str:
    """One line per run with its protocol's figures; failures last."""
    if results.empty:
        return "no results"
    ok = results[results["status"] == "ok"].copy()
    lines = []
    for protocol, runs in ok.groupby("protocol"):
        lines.append(TABLES.get(protocol, qps_recall_table)(runs))
    failed = results[results["status"] != "ok"]
    for _, row in failed.iterrows():
        first_line = str(row.get("failure_detail", "")).splitlines()[:1]
        lines.append(
            f"FAILED {row['algorithm']} {_parameters(row['build_args'], row['query_args'])}: "
            f"{row.get('failure_cause', row['status'])}: {' '.join(first_line)}"
        )
    return "\n".join(lines)


def qps_recall_table(ok: pd.DataFrame) -> str:
    """Parameters, recall, QPS, latency, build time, size; and the best QPS at the target."""
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
    return "\n".join(lines)


def deletion_table(ok: pd.DataFrame) -> str:
    """Delete latency and cost against rebuild, then recall and QPS on what remains."""
    table = pd.DataFrame(
        {
            "algorithm": ok["algorithm"],
            "parameters": _parameter_column(ok),
            "deleted": [_variant(a) for a in ok["protocol_args"]],
            "del p50 ms": _ms(ok, "single_p50"),
            "del p99 ms": _ms(ok, "single_p99"),
            "del max ms": _ms(ok, "single_max"),
            "batch s": _column(ok, "batch_time").round(3),
            "compact s": _column(ok, "compact_time").round(3),
            "rebuild s": ok["rebuild_time"].round(2),
            "speed-up": ok["speedup"].round(1),
            "recall": ok["recall"].round(4),
            "QPS": ok["qps"].round(1),
            "deleted returned": ok["deleted_returned"],
            "build_args": ok["build_args"],
        }
    ).sort_values(["algorithm", "deleted", "build_args", "recall"])
    return table.drop(columns="build_args").to_string(index=False)


def churn_table(ok: pd.DataFrame) -> str:
    """Mean recall over the search steps (the streaming figure), its minimum, QPS, time."""
    table = pd.DataFrame(
        {
            "algorithm": ok["algorithm"],
            "parameters": _parameter_column(ok),
            "runbook": ok["runbook"],
            "mean recall": ok["mean_recall"].round(4),
            "min recall": ok["min_recall"].round(4),
            "final recall": ok["final_recall"].round(4),
            "QPS": ok["qps"].round(1),
            "total s": ok["total_time"].round(2),
            "rebuilds": ok["rebuilds"],
            "build_args": ok["build_args"],
        }
    ).sort_values(["algorithm", "runbook", "build_args", "mean recall"])
    return table.drop(columns="build_args").to_string(index=False)


def erasure_table(ok: pd.DataFrame) -> str:
    """The scorecard: per run and state, leaks, remanence, membership AUCs and the verdict."""
    table = pd.DataFrame(
        {
            "algorithm": ok["algorithm"],
            "parameters": _parameter_column(ok),
            "deleted": [_variant(a) for a in ok["protocol_args"]],
            "state": ok["state"],
            "leaks": ok["leaks"],
            "remanent": _column(ok, "remanent_fraction").round(3),
            "AUC before": ok["auc_before"].round(3),
            "AUC after": ok["auc_after"].round(3),
            "AUC retrain": ok["auc_retrain"].round(3),
            "gap": ok["unlearning_gap"].round(3),
            "recall": ok["recall"].round(4),
            "retrain recall": ok["recall_retrain"].round(4),
            "verdict": ok["verdict"],
            "build_args": ok["build_args"],
        }
    ).sort_values(["algorithm", "deleted", "build_args", "parameters", "state"])
    return table.drop(columns="build_args").to_string(index=False)


def _parameter_column(ok: pd.DataFrame) -> list[str]:
    return [_parameters(b, q) for b, q in zip(ok["build_args"], ok["query_args"], strict=True)]


def _column(ok: pd.DataFrame, name: str) -> pd.Series:
    """A measure only some plugins report (e.g. compact time); NaN where missing."""
    return ok[name] if name in ok else pd.Series(float("nan"), index=ok.index)


def _ms(ok: pd.DataFrame, name: str) -> pd.Series:
    return (_column(ok, name) * 1e3).round(4)


def _variant(text: str) -> str:
    """`cluster 0.1 (seed 1)` from a run's protocol options."""
    options = json.loads(text) if isinstance(text, str) else {}
    return f"{options.get('policy')} {options.get('count')} (seed {options.get('seed')})"


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


TABLES = {"deletion": deletion_table, "churn": churn_table, "erasure": erasure_table}
