# The test suite's own image: the base with the plugins that fail on purpose or try to get
# out of their container (tests/fault_plugins.py, tests/sandbox_probe.py). The engine tests
# build it themselves (tests/containers.py), so it always holds the current probes.
FROM forget-benchmarks-base
COPY tests/fault_plugins.py tests/sandbox_probe.py tests/
