"""The examples in examples/ run for real, small, each against the server it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing import run_example


def test_ftp_mirror_example(tmp_path: Path) -> None:
    out = run_example("ftp_mirror.py", tmp_path)
    assert "64 verified (sha256)" in out
    assert "64 of 64 files already complete, none transferred" in out


def test_ftp_big_resume_example(tmp_path: Path) -> None:
    out = run_example("ftp_big_resume.py", tmp_path, AIODL_EXAMPLE_MIB="48")
    assert "resumed=True, 48 MiB complete" in out
    assert "sha256 verified" in out


@pytest.mark.parametrize("mib", ["24"])
def test_ranged_http_example(tmp_path: Path, mib: str) -> None:
    out = run_example("ranged_http.py", tmp_path, AIODL_EXAMPLE_MIB=mib)
    assert f"distro.iso: {mib} MiB in" in out
    assert "matches SHA256SUMS" in out
