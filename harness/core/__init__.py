"""What every part of the harness shares: a run request (`request`), algorithm definitions
and their grids (`definitions`), the job a worker runs (`job`), result files (`results`),
the registry of measures (`measures`), recall and latency scoring (`scoring`), atomic file
writes (`io`) and the measuring environment (`environment`). Nothing here imports the
harness's other folders."""
