"""Where workers run: `local` subprocesses, `docker` containers or `ray` tasks.

`scheduling` runs a list of jobs (parallelism, progress, interrupts, failure records) with a
per-job function that each executor provides, each job under its claim (`claims`); `storage`
checks the folders a run writes; `local` starts and supervises a worker process; `worker` is
that process; `docker` and `ray_executor` run the same worker elsewhere.
"""
