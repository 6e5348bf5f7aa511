"""An algorithm written as an ann-benchmarks `module.py` is, for the tests of the
ann-benchmarks interface: a `BaseANN`, its build parameters as one positional dict, row
positions as answers, a positional query argument. It scans a seeded random share of the
rows (`share`), so its recall grows with the query argument."""

import numpy as np

from plugins.annb.base.module import BaseANN


class SampledScan(BaseANN):
    def __init__(self, metric, params):
        if metric not in ("euclidean", "angular"):
            raise NotImplementedError(f"SampledScan does not support {metric}")
        self._metric = metric
        self._seed = int(params["seed"])
        self._dimension = params["dimension"]
        self._share = 1.0
        self.name = f"SampledScan(seed={self._seed})"

    def fit(self, X):
        if X.shape[1] != self._dimension:
            raise ValueError(f"built for dimension {self._dimension}, got {X.shape[1]}")
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        self._X = X / np.maximum(norms, 1e-12) if self._metric == "angular" else X
        self._order = np.random.default_rng(self._seed).permutation(len(X))

    def set_query_arguments(self, share):
        self._share = float(share)

    def query(self, v, n):
        m = max(n, int(len(self._order) * min(1.0, self._share)))
        candidates = self._order[:m]
        rows = self._X[candidates]
        if self._metric == "angular":
            d = -(rows @ (v / max(np.linalg.norm(v), 1e-12)))
        else:
            d = ((rows - v) ** 2).sum(axis=1)
        return candidates[np.argsort(d, kind="stable")[:n]]

    def __str__(self):
        return f"SampledScan(seed={self._seed}, share={self._share})"
