"""The job-shaped examples (CLI in CI, a flaky image host, a web service) run for real,
small, each against the local servers it starts itself."""

from __future__ import annotations

from pathlib import Path

from testing import run_example


def test_artifactory_example(tmp_path: Path) -> None:
    out = run_example(
        "artifactory.py", tmp_path, AIODL_EXAMPLE_ARTIFACTS="12", AIODL_EXAMPLE_KIB="64"
    )
    assert "12 ok, 2 failed; 12 of 12 files match the repository's sha256" in out
    assert "0 without the key, 1 answered 503 (then served on retry)" in out
    assert out.count("still failing: HTTP 404") == 2


def test_flaky_images_example(tmp_path: Path) -> None:
    out = run_example("flaky_images.py", tmp_path, AIODL_EXAMPLE_FILES="200")
    assert "197 reported ok, 3 reported failed, 0 wrong at a final path" in out
    assert "the failed are exactly the files the server always breaks" in out


def test_web_service_example(tmp_path: Path) -> None:
    out = run_example(
        "web_service.py",
        tmp_path,
        AIODL_EXAMPLE_FILES="3",
        AIODL_EXAMPLE_MIB="1",
        AIODL_EXAMPLE_RATE_MIB="2",
    )
    assert ": running, " in out
    assert "/missing.bin: failed: HTTP 404" in out
    assert "results as expected" in out
