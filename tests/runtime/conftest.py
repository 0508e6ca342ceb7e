"""Fixtures shared by the event source conformance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.esm_helpers import Probe


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[Probe]:
    """The recording function in a real worker process; closed after the test."""
    recorder = Probe(tmp_path)
    yield recorder
    recorder.close()
