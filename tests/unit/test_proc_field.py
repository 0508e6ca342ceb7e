"""Reading /proc's `key: value` files: the peak memory `surge stack status` and the bench print, the machine line."""

from __future__ import annotations

import os
from pathlib import Path

from infra.stack.process import peak_rss_mib, proc_field


def test_a_key_is_found_whatever_the_spacing_before_its_colon(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu vme\n")
    assert proc_field(str(cpuinfo), "model name") == "AMD EPYC 7B13"
    assert proc_field(str(cpuinfo), "model") is None  # a prefix of a key is not the key


def test_a_missing_key_or_file_is_none(tmp_path: Path) -> None:
    assert proc_field("/proc/meminfo", "NoSuchField") is None
    assert proc_field(str(tmp_path / "absent"), "MemTotal") is None


def test_the_peak_memory_of_a_live_process_and_of_a_gone_one() -> None:
    peak = peak_rss_mib(os.getpid())
    assert peak is not None and 1 < peak < 64 * 1024  # this interpreter: some MiB
    assert peak_rss_mib(2**22 + 1) is None  # above the largest pid Linux allows (2**22)
