"""Where workers run: `local` subprocesses, `docker` containers or `ray` tasks.

`scheduling` runs a list of jobs (parallelism, progress, interrupts, failure records) with a
per-job function that each executor provides; `local` starts and watches a worker process;
`worker` is that process; `docker` and `ray_executor` run the same worker elsewhere.
"""
