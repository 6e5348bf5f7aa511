# The base image of every plugin image: Python 3.11, the harness's own dependencies (what the
# worker and the conformance check import) and the project's code, all installed from the
# host's wheelhouse with the network off. `python install.py` makes wheelhouse/ and builds
# it (docs/cluster.md). PYTHON_IMAGE is python:3.11-slim for users online, or a base made
# from Debian packages: `bash docker/make-python-base.sh` (forget-benchmarks-python:3.11).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS dependencies
COPY wheelhouse/base /wheels
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --no-cache-dir --find-links /wheels \
       numpy h5py faiss-cpu pandas PyYAML psutil tqdm scikit-learn pytest

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
LABEL forget-benchmarks.python-image=${PYTHON_IMAGE}
# No setuid or setgid program is left: nothing in a container can gain privileges by exec.
RUN find / -xdev -type f -perm /6000 -exec chmod a-s {} +
COPY --from=dependencies /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
# The project's code: harness, plugins and algorithms with the compiled HNSW core.
COPY wheelhouse/project /wheels
RUN pip install --no-index --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
# The contract tests each plugin image runs at the end of its build
# (`python -m tests.support.check_plugin FOLDER`).
WORKDIR /home/app
COPY pyproject.toml algos.yaml ./
COPY tests/__init__.py tests/conftest.py tests/
COPY tests/plugins/__init__.py tests/plugins/test_conformance.py tests/plugins/
COPY tests/support/__init__.py tests/support/check_plugin.py tests/support/
RUN python -c "import harness.runner.worker, algorithms.hnsw._graph"
