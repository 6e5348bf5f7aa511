# The test suite's own image: the base with the plugins that fail on purpose or try to get
# out of their container (tests/support/fault_plugins.py, sandbox_probe.py). The engine
# tests build it themselves (tests/support/containers.py): it always holds the current probes.
FROM forget-benchmarks-base
COPY tests/__init__.py tests/
COPY tests/support/__init__.py tests/support/fault_plugins.py tests/support/sandbox_probe.py tests/support/
