"""The nightly history file and the regression rule: outside the earlier nights' range and
beyond K times the figure's measured noise."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.suites.history import COLUMNS, WINDOW, K, read_history, regressions


def history(*nights: dict[str, object] | list[dict[str, object]]) -> pd.DataFrame:
    """Nights of one (dataset, algorithm, protocol); a night is a dict or a list of repeats."""
    rows = []
    for i, night in enumerate(nights):
        for repeat, values in enumerate(night if isinstance(night, list) else [night]):
            rows.append(
                {"night": f"2026-01-{i + 1:02d}", "repeat": repeat, "dataset": "d",
                 "algorithm": "a", "protocol": "p", **values}
            )  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


@pytest.mark.parametrize(
    ("figure", "before", "after", "flagged"),
    [
        ("best_qps", 1000.0, 700.0, False),  # -30 %: within 3 x the 15 % floor (x/1.57)
        ("best_qps", 1000.0, 500.0, True),  # a 2x slowdown
        ("best_qps", 1000.0, 2000.0, False),  # faster is no regression
        ("max_recall", 0.95, np.nan, True),  # the figure is gone
        ("max_recall", 0.95, 0.93, False),  # within 3 x 0.01
        ("max_recall", 0.95, 0.90, True),
        ("build_time", 10.0, 13.0, False),
        ("build_time", 10.0, 20.0, True),  # lower is better: twice as long
        ("delete_p50", 1e-5, 5e-6, False),
        ("unlearning_gap", 0.01, 0.05, False),  # a rise of 0.04
        ("unlearning_gap", 0.01, 0.08, True),
        ("verdict", "erased", "hidden", True),
        ("verdict", "hidden", "erased", False),
        ("verdict", "hidden", "leaking", True),
    ],
)
def test_regression_rules(figure: str, before: object, after: object, flagged: bool):
    found = regressions(history({figure: before}, {figure: before}, {figure: after}))
    assert len(found) == flagged
    if flagged:
        assert found.iloc[0][["figure", "previous"]].tolist() == [figure, before]


def test_the_evidence_of_a_2x_slowdown():
    steady = [{"best_qps": 1000.0}, {"best_qps": 1100.0}]
    found = regressions(history(steady, steady, {"best_qps": 500.0}))
    row = found.iloc[0]
    assert (row["previous_low"], row["previous"], row["previous_high"]) == (1000, 1050, 1100)
    assert row["current"] == 500 and row["nights"] == 2
    assert row["change"] == pytest.approx(math.log(500 / 1050))
    assert row["noise"] == pytest.approx(0.15)  # the floor: the repeats differ by log 1.1
    assert row["threshold"] == pytest.approx(K * 0.15)


def test_a_figure_as_noisy_as_the_change_is_not_flagged():
    # the earlier night's repeats differ 2.5x: halving the median is within 3 x that noise
    noisy = [{"best_qps": 1000.0}, {"best_qps": 2500.0}]
    assert regressions(history(noisy, noisy, {"best_qps": 500.0})).empty
    # steady repeats: the same halving is flagged, its noise is the floor
    steady = [{"best_qps": 1000.0}, {"best_qps": 1050.0}]
    assert len(regressions(history(steady, steady, {"best_qps": 500.0}))) == 1


def test_one_earlier_night_is_not_enough_to_judge():
    # as measured here: both repeats of the second night half the first's, on identical code
    # (a load-dependent ratio); one night says nothing of how nights differ
    first, second = [{"speedup": 13.2}, {"speedup": 16.7}], [{"speedup": 6.6}, {"speedup": 7.1}]
    assert regressions(history(first, second)).empty
    assert len(regressions(history(first, first, second))) == 1


def test_one_slow_repeat_is_not_a_regression():
    steady = [{"best_qps": 1000.0}, {"best_qps": 1000.0}]
    nights = history(
        steady, steady, [{"best_qps": 300.0}, {"best_qps": 1000.0}]
    )  # one repeat of the latest night was disturbed, one was not
    assert regressions(nights).empty


def test_the_spread_between_nights_counts_from_three_nights():
    wandering = [{"best_qps": q} for q in (1000.0, 600.0, 1400.0, 800.0, 1200.0)]
    # median 1000, MAD 200 -> about log-scale 0.4 x 1.48: a drop to 500 is within 3 x that
    assert regressions(history(*wandering, {"best_qps": 500.0})).empty
    assert len(regressions(history(*wandering, {"best_qps": 150.0}))) == 1


def test_only_the_last_window_of_nights_is_compared():
    old = [{"best_qps": 100.0}] * 3  # slow long ago: outside the window
    recent = [{"best_qps": 1000.0}] * WINDOW
    found = regressions(history(*old, *recent, {"best_qps": 450.0}))
    assert len(found) == 1 and found.iloc[0]["nights"] == WINDOW


def test_compares_each_row_with_its_own_nights():
    nights = history({"best_qps": 100.0}, {"best_qps": 1000.0}, {"verdict": "erased"})
    nights.loc[2, "best_qps"] = 900.0
    assert regressions(nights).empty  # within the range 100..1000


def test_history_errors_and_empty_history(tmp_path: Path):
    assert list(read_history(tmp_path / "none.csv").columns) == COLUMNS
    assert regressions(read_history(tmp_path / "none.csv")).empty
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lacks the column"):
        read_history(wrong)


def test_a_history_from_before_repeats_reads_as_one_repeat_a_night(tmp_path: Path):
    nights = ({"best_qps": 1000.0}, {"best_qps": 1000.0}, {"best_qps": 400.0})
    old = history(*nights).drop(columns="repeat")
    path = tmp_path / "history.csv"
    old.to_csv(path, index=False)
    read = read_history(path)
    assert (read["repeat"] == 0).all() and list(read.columns) == COLUMNS
    assert len(regressions(read)) == 1


def test_runs_that_start_failing_are_flagged():
    clean = [{"failed": 0}, {"failed": 0}]
    found = regressions(history(clean, clean, [{"failed": 2}, {"failed": 3}]))
    assert found["figure"].tolist() == ["failed"] and found.iloc[0]["change"] == 2.5
    flaky = history(clean, [{"failed": 0}, {"failed": 1}], [{"failed": 1}, {"failed": 1}])
    assert regressions(flaky).empty  # as many as an earlier night had
