"""Answers checked at the harness side: a plugin's numbers are only scored once they are
answers at all.

`query` must return a 1-d integer array of at most k ids, `batch_query` an integer array of
one row per query and at most k columns; every id is a train row (0..n-1) or the padding -1,
and no id appears twice in one answer. Anything else fails the run with an `AnswerError`
naming the call, the query and the fix, instead of being truncated, cast or scored (a batch of
one row for 1000 queries would otherwise be recorded at millions of QPS). The checks run
after the timed loop, never inside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PADDING = -1


class AnswerError(ValueError):
    """A plugin returned something that is not an answer; the message says what and how to fix."""


def query_answers(answers: Sequence[np.ndarray], k: int, id_count: int | None) -> np.ndarray:
    """The `query` answers (one array per query, as returned) as an int64 matrix, -1 padded."""
    neighbors = np.full((len(answers), k), PADDING, dtype=np.int64)
    for i, found in enumerate(answers):
        if found.ndim != 1:
            raise AnswerError(
                f"query returned an array of shape {found.shape} for query {i}: return a "
                f"1-d array of at most k={k} ids"
            )
        if len(found) > k:
            raise AnswerError(
                f"query returned {len(found)} ids for query {i} with k={k}: return at most k"
            )
        if len(found):
            _check_integer("query", found, i)
            neighbors[i, : len(found)] = found
    check_ids("query", neighbors, id_count)
    return neighbors


def batch_answers(answers: object, queries: int, k: int, id_count: int | None) -> np.ndarray:
    """The `batch_query` answer as an int64 `(queries, k)` matrix, -1 padded."""
    found = np.asarray(answers)
    if found.ndim != 2 or len(found) != queries or found.shape[1] > k:
        raise AnswerError(
            f"batch_query returned shape {found.shape} for {queries} queries with k={k}: "
            f"return one row per query, ({queries}, {k}), padded with {PADDING}"
        )
    neighbors = np.full((queries, k), PADDING, dtype=np.int64)
    if found.size:
        _check_integer("batch_query", found, None)
        neighbors[:, : found.shape[1]] = found
    check_ids("batch_query", neighbors, id_count)
    return neighbors


def check_ids(call: str, neighbors: np.ndarray, id_count: int | None) -> None:
    """Every id a train row or the padding, none twice in one answer."""
    low = neighbors < PADDING
    high = neighbors >= id_count if id_count is not None else np.zeros_like(low)
    bad = low | high
    if bad.any():
        query, position = np.argwhere(bad)[0]
        valid = f"0 to {id_count - 1}" if id_count is not None else "non-negative"
        raise AnswerError(
            f"{call} returned id {neighbors[query, position]} for query {query}: ids are "
            f"train rows ({valid}), or {PADDING} for padding ({int(bad.sum())} such ids)"
        )
    ranked = np.sort(neighbors, axis=1)
    repeated = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] != PADDING)
    if repeated.any():
        query = int(np.argmax(repeated.any(axis=1)))
        row = ranked[query, 1:][repeated[query]]
        raise AnswerError(
            f"{call} returned id {row[0]} twice for query {query} "
            f"({int(repeated.any(axis=1).sum())} such answers): return each neighbour once"
        )


def _check_integer(call: str, found: np.ndarray, query: int | None) -> None:
    if found.dtype.kind not in "iu":
        where = f" for query {query}" if query is not None else ""
        raise AnswerError(
            f"{call} returned {found.dtype} ids{where}: return integer ids (int64); "
            "the harness does not truncate or round them"
        )
