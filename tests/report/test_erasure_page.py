"""The erasure page's evidence: each scorecard row with the checks its verdict rests on."""

from __future__ import annotations

from pathlib import Path

from harness.core.results import load_results
from harness.report.erasure import erasure_evidence
from harness.report.pages import erasure_scorecards
from harness.report.site import environment
from harness.runner.worker import execute
from tests.support.jobs import make_job


def test_the_page_shows_each_verdicts_evidence(tiny_dataset: Path, tmp_path: Path) -> None:
    for module, constructor in (
        ("plugins.bruteforce.module", "BruteForce"),
        ("tests.support.erasure_plugins", "Tombstones"),
    ):
        job = make_job(module, constructor, tiny_dataset, tmp_path)
        job.protocol = "erasure"
        job.protocol_args = {"policy": "random", "delete_count": 50, "delete_seed": 1,
                             "erasure_seed": 1}  # fmt: skip
        execute(job)
    runs = load_results(tmp_path)
    evidence = erasure_evidence(runs, ["tiny"])
    rows = {r["algorithm"]: r for r in evidence[0]["rows"]}
    assert rows["bruteforce"]["verdict"] == "erased"
    assert {c["outcome"] for c in rows["bruteforce"]["checks"]} == {"passed"}
    tombstones = {c["name"]: c["outcome"] for c in rows["tombstones"]["checks"]}
    assert tombstones["decoding"] == tombstones["memory"] == "found"
    site = {"datasets": [], "algorithms": [], "nightly": False, "results_root": str(tmp_path)}
    page = (
        environment()
        .get_template("erasure.html")
        .render(
            site=site, root="", scorecards=erasure_scorecards(runs, ["tiny"]), evidence=evidence
        )
    )
    assert page.count('<details class="evidence"') == 2
    assert 'data-outcome="found"' in page and "files hidden" in page
    for anchor in ("decoding", "control", "reconstruction", "differential", "side-files",
                   "memory", "attack"):  # fmt: skip
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page
    plain = environment().get_template("erasure.html").render(site=site, root="", scorecards=[])
    assert "Evidence" not in plain  # rendered as before where no evidence is given
