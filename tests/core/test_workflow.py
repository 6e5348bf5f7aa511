"""The nightly workflow validates against the GitHub workflow schema (check-jsonschema's
vendored copy, offline) and does what the nightly job must do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.core.environment import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "nightly.yml"
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def validate(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with its built-in schema; a dead proxy proves nothing is fetched."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **OFFLINE},
        check=False,
    )


def test_the_workflow_validates_offline():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    result = validate(broken)
    assert result.returncode == 1 and "runs-on" in result.stdout


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def test_scheduled_and_by_hand(workflow: dict):
    assert workflow["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_runs_the_nightly_suite_and_publishes_the_site(workflow: dict):
    steps = workflow["jobs"]["benchmark"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert "pip install -r requirements.txt" in runs
    assert "python run.py --suite nightly" in runs
    assert "python run.py --website" in runs and "--outputdir site" in runs
    assert "nightly/history.csv" in runs  # restored before the suite, published after it
    assert runs.index("history.csv") < runs.index("--suite nightly")
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert "actions/upload-pages-artifact" in uses
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "benchmark"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
