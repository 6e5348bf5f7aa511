"""A plugin's answers are checked before they are scored: wrong shapes, float ids, ids out of
range and repeated ids fail the run with the reason, instead of being cast, cut or counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.core.results import read_result
from harness.protocols._answers import AnswerError, batch_answers, query_answers
from harness.protocols._measure import timed_batch, timed_queries
from harness.runner.local import run_local
from harness.runner.scheduling import Limits
from plugins.bruteforce.module import BruteForce
from tests.support.jobs import fault_job

GiB = 2**30
K = 10


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_good_answers_pass_and_are_padded() -> None:
    out = query_answers([ids(3, 1, 2), ids(), np.array([4], dtype=np.int32)], K, 10)
    assert out.shape == (3, K) and out.dtype == np.int64
    assert out[0, :3].tolist() == [3, 1, 2] and (out[0, 3:] == -1).all()
    assert (out[1] == -1).all() and out[2, 0] == 4
    padded = batch_answers(np.array([[1, 2, -1, -1], [0, -1, -1, -1]]), 2, 4, 10)
    assert padded.tolist() == [[1, 2, -1, -1], [0, -1, -1, -1]]
    narrow = batch_answers(np.array([[1], [2]], dtype=np.uint32), 2, 4, 10)
    assert narrow.tolist() == [[1, -1, -1, -1], [2, -1, -1, -1]]
    assert query_answers([np.zeros(0)], K, 10).tolist() == [[-1] * K]  # empty: no ids at all


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([ids(1, 2)[None, :]], "shape (1, 2) for query 0"),
        ([ids(*range(K + 1))], f"11 ids for query 0 with k={K}"),
        ([np.array([1.0, 2.0])], "float64 ids"),
        ([np.array([1.7, 2.2])], "float64 ids"),
        ([np.array([True, False])], "bool ids"),
        ([ids(1), ids(5, 10)], "id 10 for query 1"),
        ([ids(-2)], "id -2 for query 0"),
        ([ids(1, 2), ids(4, 3, 4)], "id 4 twice for query 1"),
    ],
)
def test_query_answers_that_are_not_answers_are_refused(answers, message) -> None:
    with pytest.raises(AnswerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        query_answers(answers, K, 10)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (np.zeros((1, K), dtype=np.int64), r"shape \(1, 10\) for 1000 queries"),
        (np.zeros((1000,), dtype=np.int64), r"shape \(1000,\) for 1000 queries"),
        (np.zeros((1000, K + 1), dtype=np.int64), r"shape \(1000, 11\)"),
        (np.tile(np.arange(K, dtype=np.float32), (1000, 1)), "float32 ids"),
        (np.tile(np.arange(K) + 5, (1000, 1)), "id 10 for query 0"),
        (np.zeros((1000, K), dtype=np.int64), "id 0 twice"),
    ],
)
def test_batch_answers_that_are_not_answers_are_refused(answer, message) -> None:
    with pytest.raises(AnswerError, match=message):
        batch_answers(answer, 1000, K, 10)


class ReusesItsBuffer(BruteForce):
    """Returns the same array every time, overwritten by the next query."""

    def query(self, q, k):
        found = super().query(q, k)
        if not hasattr(self, "buffer"):
            self.buffer = np.empty(k, dtype=np.int64)
        self.buffer[: len(found)] = found
        return self.buffer[: len(found)]


def test_each_answer_is_kept_as_returned_even_from_a_reused_buffer() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    Q = rng.normal(size=(20, 8)).astype(np.float32)
    reference, reusing = BruteForce("euclidean"), ReusesItsBuffer("euclidean")
    reference.fit(X)
    reusing.fit(X)
    _, expected = timed_batch(reference, Q, 5, len(X))
    _, answers = timed_queries(reusing, Q, 5, len(X))
    assert (answers == expected).all()
    assert len({tuple(row) for row in answers}) > 1


@pytest.mark.timeout(300)
def test_wrong_answers_fail_the_run_with_the_reason(tiny_dataset: Path, tmp_path: Path) -> None:
    expected = {
        "WrongBatchShape": "batch_query returned shape (1, 10) for 20 queries",
        "FloatIds": "query returned float64 ids",
        "OutOfRangeIds": "query returned id 1000000000",
        "DuplicateIds": "twice",
        "TooManyIds": "query returned 15 ids",
        "TwoDimensional": "shape (1, 10)",
    }
    jobs = [fault_job(name, tiny_dataset, tmp_path) for name in expected]
    jobs[0].batch = True
    outcomes = run_local(jobs, "euclidean", Limits(120, 4 * GiB), parallelism=2)
    for outcome in outcomes:
        name = outcome.job.definition.constructor
        attrs = read_result(outcome.job.result_path([]))["attrs"]
        assert attrs["status"] == "failed", name
        assert attrs["failure_cause"] == "answers", name
        first_line = attrs["failure_detail"].splitlines()[0]
        assert first_line.startswith("AnswerError: ") and expected[name] in first_line
