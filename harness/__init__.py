"""The benchmark harness, laid out by what it does (docs/architecture.md):

- `cli` and `benchmark`: the command line, and the one entry point it and every other caller
  use (`benchmark.run(RunRequest)`);
- `core`: the request, definitions, jobs, result files, measures, scoring, atomic writes;
- `data`: datasets, their sources, ground truth and its cache;
- `protocols`: qps-recall, deletion, churn and erasure, with their shared toolkit;
- `runner`: where workers run (local processes, docker, Ray) and the worker itself;
- `suites`: the nightly suite and its history;
- `report`: console tables, figures and the website.

Dependencies point one way (cli -> suites -> benchmark -> runner -> protocols -> data -> core;
report reads core and the suites' history); the harness imports `plugins.base` (the
contract) and `algorithms.vectors`, never a plugin by name.
"""
