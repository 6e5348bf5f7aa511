"""Datasets: the ann-benchmarks HDF5 format (`datasets`), the registry of named sets and
their sources (`sources`), exact ground truth (`groundtruth`) and its on-disk cache for
modified sets (`gt_cache`)."""
