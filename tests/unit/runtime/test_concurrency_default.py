"""How many execution environments a function gets locally when `--max-concurrency` is not given."""

from __future__ import annotations

import pytest

from infra.cli import build_parser
from infra.runtime.app import default_max_concurrency


@pytest.mark.parametrize(("cores", "environments"), [(1, 2), (2, 4), (3, 6), (5, 10), (64, 10)])
def test_two_environments_per_core_from_two_to_ten(cores: int, environments: int) -> None:
    assert default_max_concurrency(cores) == environments


def test_the_default_follows_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})  # e.g. a container limited to 2
    assert default_max_concurrency() == 4


def test_local_up_leaves_the_default_to_the_runtime_and_takes_a_given_count() -> None:
    parser = build_parser()
    assert parser.parse_args(["local", "up"]).max_concurrency is None
    assert parser.parse_args(["local", "up", "--max-concurrency", "12"]).max_concurrency == 12


@pytest.mark.parametrize("value", ["0", "-3", "four"])
def test_local_up_refuses_a_count_below_one_naming_the_option(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["local", "up", "--max-concurrency", value])
    assert exited.value.code == 2
    assert "--max-concurrency" in capsys.readouterr().err
