"""The nightly history file and the regression rules between nights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.suites.history import COLUMNS, read_history, regressions


def history(*nights: dict[str, object]) -> pd.DataFrame:
    rows = [
        {"night": f"2026-01-0{i + 1}", "dataset": "d", "algorithm": "a", "protocol": "p", **n}
        for i, n in enumerate(nights)
    ]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


@pytest.mark.parametrize(
    ("figure", "before", "after", "flagged"),
    [
        ("best_qps", 1000.0, 800.0, False),  # -20 %: within the tolerance
        ("best_qps", 1000.0, 700.0, True),  # -30 %
        ("max_recall", 0.95, np.nan, True),  # the figure is gone
        ("build_time", 10.0, 12.0, False),
        ("build_time", 10.0, 13.0, True),  # lower is better: +30 %
        ("delete_p50", 1e-5, 5e-6, False),  # faster is no regression
        ("unlearning_gap", 0.01, 0.05, False),  # absolute rise 0.04
        ("unlearning_gap", 0.01, 0.07, True),
        ("verdict", "erased", "hidden", True),
        ("verdict", "hidden", "erased", False),
        ("verdict", "hidden", "leaking", True),
    ],
)
def test_regression_rules(figure: str, before: object, after: object, flagged: bool):
    found = regressions(history({figure: before}, {figure: after}))
    assert len(found) == flagged
    if flagged:
        assert found.iloc[0][["figure", "previous"]].tolist() == [figure, before]


def test_compares_with_the_latest_earlier_night_of_each_row():
    nights = history({"best_qps": 100.0}, {"best_qps": 1000.0}, {"verdict": "erased"})
    nights.loc[2, "best_qps"] = 900.0
    assert regressions(nights).empty  # against 1000, not 100
    nights.loc[2, "best_qps"] = 50.0
    assert regressions(nights, tolerance=0.99).empty


def test_history_errors_and_empty_history(tmp_path: Path):
    assert list(read_history(tmp_path / "none.csv").columns) == COLUMNS
    assert regressions(read_history(tmp_path / "none.csv")).empty
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lacks the column"):
        read_history(wrong)
