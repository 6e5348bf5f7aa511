"""The console tables: registry titles, measures no run has left out, PR-AUC where measured,
parameters in numeric order."""

from __future__ import annotations

import json

import pandas as pd

from harness.report.console import summary_table


def run(build: dict, query: dict, **measures: object) -> dict[str, object]:
    return {
        "algorithm": "hnswlib", "status": "ok", "protocol": "qps-recall",
        "build_args": json.dumps(build), "query_args": json.dumps(query), **measures,
    }  # fmt: skip


def test_parameters_sort_numerically_not_as_text() -> None:
    runs = [
        run({"M": m}, {"ef": ef}, recall=0.9, qps=1000.0, build_time=1.0)
        for m in (16, 4, 12)
        for ef in (120, 40, 10)
    ]
    table = summary_table(pd.DataFrame(runs)).splitlines()
    lines = [line.strip() for line in table if line.strip().startswith("hnswlib ")]
    order = [" ".join(line.split()[1:3]) for line in lines]
    expected = [f"M={m} ef={ef}" for m in (4, 12, 16) for ef in (10, 40, 120)]
    assert order == expected


def test_pr_auc_is_a_column_where_measured_and_absent_measures_are_left_out() -> None:
    with_auc = summary_table(pd.DataFrame([run({"M": 4}, {"ef": 10}, recall=0.5, qps=9.0,
                                               pr_auc=0.8123)]))  # fmt: skip
    header = with_auc.splitlines()[0]
    assert "PR-AUC" in header and "0.812" in with_auc
    without = summary_table(pd.DataFrame([run({"M": 4}, {"ef": 10}, recall=0.5, qps=9.0)]))
    assert "PR-AUC" not in without and "NaN" not in without
    deletion = run({"M": 4}, {"ef": 10}, recall=0.5, qps=9.0, single_p50=2e-5, speedup=30.0)
    deletion.update(protocol="deletion", protocol_args=json.dumps({"policy": "random"}))
    text = summary_table(pd.DataFrame([deletion]))
    assert "del p50 ms" in text and "0.0200" in text
    assert "batch s" not in text and "NaN" not in text  # no run measured a batch delete
