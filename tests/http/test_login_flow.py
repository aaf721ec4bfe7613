"""The archive login (issue 21): netrc per host along the redirect chain and the run's
cookie jar log in once; a second run with the saved cookie file does not log in at all,
and the third origin never sees a credential or a cookie."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import aiodl
from testing import random_bytes
from testing.servers.login import PASSWORD, USER, running_archive

pytestmark = pytest.mark.anyio


def netrc_for(tmp_path: Path) -> Path:
    """The login host's login, a different one for the data host, none for the third."""
    rc = tmp_path / "netrc"
    rc.write_text(
        f"machine login.test login {USER} password {PASSWORD}\n"
        "machine data.test login datauser password d4t4pa55\n"
    )
    rc.chmod(0o600)
    return rc


async def test_login_flow_with_netrc_and_a_cookie_jar(tmp_path: Path) -> None:
    files = {"a.bin": random_bytes(300_000), "b.bin": b"second", "out.bin": b"elsewhere"}
    async with running_archive(files) as archive:
        urls = [archive.url("data", name) for name in ("a.bin", "b.bin", "out.bin")]
        jar = tmp_path / "cookies.txt"
        results = await aiodl.download_many(
            urls, tmp_path / "one", netrc=netrc_for(tmp_path), cookie_jar=jar,
            resolve=archive.resolve, connections=1, retries=0,
        )  # fmt: skip
        assert [r.ok for r in results] == [True] * 3, [str(r.error) for r in results]
        for name, data in files.items():
            assert (tmp_path / "one" / name).read_bytes() == data
        assert archive.logins == 1  # b.bin and out.bin rode on a.bin's session cookie
        login_auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        data_auth = "Basic " + base64.b64encode(b"datauser:d4t4pa55").decode()
        for path, headers in archive.seen["data"]:
            assert headers.get("Authorization") == data_auth, path  # its own netrc login
        assert all(h.get("Authorization") == login_auth for _, h in archive.seen["login"])
        assert all("Cookie" not in h for _, h in archive.seen["login"])  # none of its own
        [(_, elsewhere)] = archive.seen["other"]
        assert "Authorization" not in elsewhere
        assert "Cookie" not in elsewhere
        assert oct(jar.stat().st_mode & 0o777) == "0o600"
        assert "\tsession\t" in jar.read_text()
        for result in results:  # the session never shows in a Result
            assert "session" not in repr(result)

        # A second run with the saved cookie file, no netrc at all: no login.
        archive.logins = 0
        [again] = await aiodl.download_many(
            [urls[1]], tmp_path / "two", cookies=jar, resolve=archive.resolve, retries=0
        )
        assert again.ok, again.error
        assert (tmp_path / "two" / "b.bin").read_bytes() == b"second"
        assert archive.logins == 0


async def test_without_the_login_hosts_netrc_entry_the_file_fails_with_401(
    tmp_path: Path,
) -> None:
    """The data host's netrc login is never sent to the login host (another host)."""
    async with running_archive({"a.bin": b"x"}) as archive:
        rc = tmp_path / "netrc"
        rc.write_text("machine data.test login archivist password l0g1nPa55\n")
        rc.chmod(0o600)
        [result] = await aiodl.download_many(
            [archive.url("data", "a.bin")], tmp_path, netrc=rc, resolve=archive.resolve,
            retries=0,
        )  # fmt: skip
        assert isinstance(result.error, aiodl.HTTPStatusError)
        assert result.error.status == 401
        assert all("Authorization" not in h for _, h in archive.seen["login"])
        assert archive.logins == 0


async def test_cli_cookie_flags_log_in_once_over_two_runs(tmp_path: Path) -> None:
    """``-b FILE -c FILE`` on a first run (no file yet) writes it; the next run reads it."""
    from testing import run_cli

    async with running_archive({"a.bin": b"cli data"}) as archive:
        jar = tmp_path / "jar.txt"
        url = f"http://127.0.0.1:{archive.ports['other']}/a.bin"
        code, _, err = await run_cli("-q", "-b", str(jar), "-c", str(jar), "-d",
                                     str(tmp_path / "d"), url)  # fmt: skip
        assert code == 0, err
        assert jar.read_text().startswith("# Netscape HTTP Cookie File")
        (tmp_path / "bad.txt").write_text("not a cookie file\n")
        code, _, err = await run_cli("-q", "-b", str(tmp_path / "bad.txt"), url)
        assert code != 0
        assert "Netscape format" in err
