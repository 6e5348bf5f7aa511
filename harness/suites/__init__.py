"""Suites of runs with a memory: the nightly suite (`nightly`) and its history file and
regression check (`history`)."""
