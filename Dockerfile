# Base image of the benchmark: the harness and its core dependencies.
# Each plugin's image (plugins/<name>/Dockerfile) builds on it as forget-benchmarks-base.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /home/app
COPY requirements.txt pyproject.toml setup.py README.md ./
COPY algorithms algorithms
COPY harness harness
COPY plugins plugins
RUN pip install --no-cache-dir -r requirements.txt
RUN python -c "import harness.runner.worker"
