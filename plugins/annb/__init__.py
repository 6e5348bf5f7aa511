"""ann-benchmarks algorithms, run unchanged: a folder copied from `ann_benchmarks/algorithms/`
(its `module.py` and `config.yml`) goes here as `plugins/annb/<name>/`, where its
`from ..base.module import BaseANN` finds `plugins.annb.base.module`; `adapter` puts the
ann-benchmarks interface (`fit(X)`, `query(q, n)` returning row positions) under this
project's plugin contract."""
