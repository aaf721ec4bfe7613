"""The examples in examples/ run for real, small, each against the server it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, tmp_path: Path, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env={**os.environ, "AIODL_DEMO_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


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
