"""`surge bench`'s options are checked before a stack starts, and its report says on what machine it ran."""

from __future__ import annotations

import os

import pytest

from infra.bench import run
from infra.cli import build_parser


def test_a_misspelt_section_is_a_usage_error_naming_the_sections(capsys: pytest.CaptureFixture[str]) -> None:
    # Before, `--only acept` started a stack, ran nothing and printed an empty report.
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench", "--only", "acept"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--only" in error and "'acept'" in error and "accept" in error.split("choose from", 1)[1]


@pytest.mark.parametrize("scale", ["0", "-1", "fast"])
def test_a_scale_that_is_not_a_positive_number_is_a_usage_error(
    scale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench", "--scale", scale])
    assert exited.value.code == 2
    assert "--scale" in capsys.readouterr().err


def test_valid_options_select_the_sections_in_the_order_they_run() -> None:
    args = build_parser().parse_args(["bench", "--only", "accept", "runtime", "--scale", "0.2"])
    assert (args.only, args.scale) == (["accept", "runtime"], 0.2)
    assert tuple(run._sections()) == run.SECTION_NAMES


def test_the_machine_line_names_the_usable_cores_and_the_python() -> None:
    line = run.describe_machine()
    assert line.startswith(f"{len(os.sched_getaffinity(0))} CPU cores usable")
    assert "GiB memory" in line and "Python 3." in line
