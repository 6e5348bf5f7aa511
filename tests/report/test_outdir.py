"""`--website --outputdir DIR` replaces only a folder the site made: never a checkout, the
results, a file, or a folder holding a file the site did not write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.results import write_result
from harness.report.outdir import MARKER, OutputFolderError, note_written, site_folder
from harness.report.site import build_site
from tests.support.jobs import fault_job


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links as their target) and its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = f"-> {os.readlink(path)}".encode()
        elif path.is_file():
            out[str(path.relative_to(folder))] = path.read_bytes()
    return out


@pytest.fixture
def results(tmp_path: Path, tiny_dataset: Path) -> Path:
    """A results folder with a finished and a failed run in it."""
    root = tmp_path / "results"
    failed = fault_job("Raise", tiny_dataset, root)
    attrs = failed.attrs([], "euclidean", status="failed")
    write_result(failed.result_path([]), {**attrs, "failure_cause": "exception"})
    ok = fault_job("BruteForce", tiny_dataset, root)
    measures = {"recall": 1.0, "qps": 1000.0, "p50_latency": 0.001}
    attrs = {**ok.attrs([], "euclidean"), "build_time": 0.1, "index_size": 1000}
    write_result(ok.result_path([]), attrs, {}, "qps-recall", measures)
    return root


def website(results: Path, outdir: Path) -> int:
    return main(["--website", "--results", str(results), "--outputdir", str(outdir)])


def checkout(folder: Path) -> Path:
    """A folder that looks like a user's git checkout: sources, a .git folder, a link."""
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / ".git" / "objects" / "ab").write_bytes(os.urandom(64))
    (folder / "src").mkdir()
    (folder / "src" / "module.py").write_text("print('mine')\n")
    (folder / "README.md").write_text("my project\n")
    (folder / "link").symlink_to("README.md")
    return folder


def test_a_checkout_as_outputdir_is_refused_and_untouched(
    results: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    project = checkout(tmp_path / "project")
    before = snapshot(project)
    monkeypatch.chdir(project)
    assert website(results, Path(".")) == 2
    assert "not made by" in capsys.readouterr().err
    assert snapshot(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "results"]


def test_the_results_folder_or_its_parent_as_outputdir_is_refused(
    results: Path, tmp_path: Path, capsys
) -> None:
    before = snapshot(results)
    for outdir in (results, tmp_path, results / ".."):
        assert website(results, outdir) == 2
        assert "holds" in capsys.readouterr().err
    assert snapshot(results) == before


def test_the_results_folder_is_protected_even_inside_a_marked_site(
    results: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    build_site(results, site)
    inner = site / "results"
    inner.mkdir()
    (inner / "run.hdf5").write_bytes(b"precious")
    with pytest.raises(OutputFolderError, match="holds"):
        build_site(inner, site)
    assert (inner / "run.hdf5").read_bytes() == b"precious"


def test_a_file_as_outputdir_is_refused(results: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    assert website(results, target) == 2
    assert "is a file" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_a_site_replaces_its_own_previous_build_but_not_a_users_file_in_it(
    results: Path, tmp_path: Path, capsys
) -> None:
    site = tmp_path / "site"
    assert website(results, site) == 0
    assert (site / MARKER).is_file() and (site / "index.html").is_file()
    stale = site / "datasets" / "gone.html"  # a page of an earlier build
    stale.write_text("old page")
    note_written(site, [stale])
    assert website(results, site) == 0
    assert not stale.exists(), "a page the site wrote earlier is replaced"
    assert (site / "index.html").is_file()

    (site / "my-notes.txt").write_text("mine")
    before = snapshot(site)
    assert website(results, site) == 2
    assert "my-notes.txt" in capsys.readouterr().err
    assert snapshot(site) == before
    (site / "my-notes.txt").unlink()
    (site / "escape").symlink_to(tmp_path)
    assert website(results, site) == 2
    assert "links" in capsys.readouterr().err


def test_an_empty_or_missing_outputdir_is_used(results: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert website(results, empty) == 0
    assert (empty / "index.html").is_file()
    assert website(results, tmp_path / "new" / "deeper") == 0
    assert (tmp_path / "new" / "deeper" / "index.html").is_file()


def test_a_forged_or_broken_marker_does_not_make_a_folder_replaceable(
    results: Path, tmp_path: Path
) -> None:
    folder = checkout(tmp_path / "forged")
    before = snapshot(folder)
    for marker in ("", "not json", '{"made_by": "someone else", "files": []}', "[1, 2]"):
        (folder / MARKER).write_text(marker)
        with pytest.raises(OutputFolderError):
            build_site(results, folder)
        (folder / MARKER).unlink()
        assert snapshot(folder) == before


def test_a_failed_build_leaves_the_previous_site_and_no_staging_folder(
    results: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    build_site(results, site)
    before = snapshot(site)
    with pytest.raises(RuntimeError, match="planted"), site_folder(site, [results]) as staging:
        (staging / "half.html").write_text("half a site")
        raise RuntimeError("planted failure mid-build")
    assert snapshot(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "site"]


def test_plot_into_a_site_keeps_it_replaceable(
    results: Path, tmp_path: Path, tiny_dataset: Path
) -> None:
    site = tmp_path / "site"
    assert website(results, site) == 0
    before = set(snapshot(site))
    later = fault_job("BruteForce", tiny_dataset, results)
    later.dataset = "tiny-later"  # a dataset the site has no figures of yet
    attrs = {**later.attrs([], "euclidean"), "build_time": 0.1, "index_size": 1000}
    measures = {"recall": 1.0, "qps": 1000.0, "p50_latency": 0.001}
    write_result(later.result_path([]), attrs, {}, "qps-recall", measures)
    assert main(["--plot", "--results", str(results), "--outputdir", str(site)]) == 0
    assert set(snapshot(site)) - before, "--plot wrote new figures"
    assert website(results, site) == 0
