"""What a failure record says: the error's own line first, bounded details, the full log kept
next to the results; and errors of the suite itself are messages, not tracebacks."""

from __future__ import annotations

from pathlib import Path

from harness.cli import main
from harness.core.results import load_results, read_result
from harness.report.console import summary_table
from harness.runner.local import run_local
from harness.runner.scheduling import DETAIL_LIMIT, LINE_LIMIT, Limits
from tests.support.jobs import fault_job

GiB = 2**30


def test_a_plugin_exception_is_summarised_by_its_own_line(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    job = fault_job("Raise", tiny_dataset, tmp_path)
    run_local([job], "euclidean", Limits(60, 4 * GiB))
    detail = read_result(job.result_path([]))["attrs"]["failure_detail"]
    assert detail.splitlines()[0] == "RuntimeError: planted failure in fit"
    assert "Traceback (most recent call last)" in detail  # kept below the headline
    table = summary_table(load_results(tmp_path))
    assert "exception: RuntimeError: planted failure in fit" in table


def test_huge_output_is_capped_in_the_record_and_kept_whole_in_the_log(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    job = fault_job("HugeOutput", tiny_dataset, tmp_path)
    [outcome] = run_local([job], "euclidean", Limits(60, 4 * GiB))
    detail = read_result(job.result_path([]))["attrs"]["failure_detail"]
    assert outcome.cause == "exception"
    assert len(detail) <= DETAIL_LIMIT + 4 * LINE_LIMIT, len(detail)
    assert max(len(line) for line in detail.splitlines()) <= LINE_LIMIT + 40
    assert detail.startswith("RuntimeError: planted failure after huge output yyy")
    assert "more characters]" in detail and str(job.log_path()) in detail
    assert job.log_path().stat().st_size > 5 * 2**20, "the full log stays next to the results"
    table = summary_table(load_results(tmp_path))
    assert len(table) < 2 * DETAIL_LIMIT


def test_a_nightly_history_that_is_not_one_is_a_clear_error(tmp_path: Path, capsys) -> None:
    history = tmp_path / "results" / "nightly" / "history.csv"
    history.parent.mkdir(parents=True)
    for text in ("a,b\n1,2\n", '"unclosed\n1,2,3\n4,5\n'):
        history.write_text(text)
        code = main(["--website", "--results", str(tmp_path / "results"), "--outputdir",
                     str(tmp_path / "site")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and str(history) in err and "Traceback" not in err
