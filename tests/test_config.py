"""Validation and derived values of the options object (aiodl._config)."""

from __future__ import annotations

import base64
import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._config import MAX_CONNECTIONS, MAX_SPLIT, Config
from aiodl._pacing.retry import RetryPolicy

INT_OPTIONS = ["split", "connections", "per_host", "max_redirects", "min_segment_size"]
FLOAT_OPTIONS = ["timeout", "backoff", "backoff_cap", "max_retry_wait"]


def options(name: str, value: object) -> dict[str, Any]:
    return {name: value}


def test_defaults() -> None:
    config = Config()
    assert (config.split, config.connections, config.per_host, config.retries) == (8, 16, 8, 5)
    assert config.timeout == 30.0
    assert config.max_redirects == 10
    assert config.min_segment_size == 1024 * 1024
    assert config.auth is None
    assert dict(config.headers) == {}
    assert config.overwrite is False
    assert config.progress is False
    assert config.retry_policy == RetryPolicy(retries=5, base=0.5, cap=30.0, max_wait=300.0)


@pytest.mark.parametrize("name", INT_OPTIONS)
@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, "8", None])
def test_positive_int_options_reject_invalid(name: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        Config(**options(name, value))


@pytest.mark.parametrize("value", [-1, True, 2.0, "5", None])
def test_retries_rejects_invalid(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        Config(retries=value)  # type: ignore[arg-type]


def test_zero_retries_is_allowed() -> None:
    assert Config(retries=0).retry_policy.retries == 0


@pytest.mark.parametrize("name", FLOAT_OPTIONS)
@pytest.mark.parametrize("value", [0, 0.0, -1.0, True, "30", None])
def test_float_options_reject_invalid(name: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        Config(**options(name, value))


@pytest.mark.parametrize("name", FLOAT_OPTIONS)
def test_float_options_reject_nan(name: str) -> None:
    # NaN is not a positive number; NaN <= 0 is False, so it must be checked for explicitly.
    with pytest.raises(ValueError, match=name):
        Config(**options(name, math.nan))


@given(
    st.integers(min_value=1, max_value=MAX_SPLIT),
    st.integers(min_value=1, max_value=MAX_CONNECTIONS),
    st.integers(min_value=0, max_value=100),
    st.floats(min_value=1e-3, max_value=1e6) | st.integers(min_value=1, max_value=10**6),
)
def test_valid_values_are_accepted(
    split: int, connections: int, retries: int, timeout: float
) -> None:
    config = Config(split=split, connections=connections, retries=retries, timeout=timeout)
    assert (config.split, config.connections, config.retries) == (split, connections, retries)
    assert config.timeout == timeout
    assert config.retry_policy.retries == retries


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.split = 2  # type: ignore[misc]


def test_headers_are_copied_and_read_only() -> None:
    headers = {"Accept": "*/*"}
    config = Config(headers=headers)
    headers["Accept"] = "text/html"
    assert config.headers["Accept"] == "*/*"
    with pytest.raises(TypeError):
        config.headers["X"] = "y"  # type: ignore[index]


def test_build_rejects_unknown_options() -> None:
    with pytest.raises(TypeError, match="bogus"):
        Config.build(None, {"bogus": 1})
    with pytest.raises(TypeError, match="bogus, zzz"):
        Config.build(Config(), {"zzz": 1, "bogus": 2, "split": 2})


def test_build_merges_over_the_given_config() -> None:
    base = Config(split=3, retries=1)
    built = Config.build(base, {"connections": 4})
    assert (built.split, built.retries, built.connections) == (3, 1, 4)
    assert Config.build(None, {}) == Config()
    assert Config.build(base, {}) == base


def test_build_validates_merged_values() -> None:
    with pytest.raises(ValueError, match="connections"):
        Config.build(None, {"connections": 0})


@pytest.mark.parametrize("progress", [True, False, print])
def test_progress_accepts_bool_or_callable(progress: Any) -> None:
    assert Config(progress=progress).progress is progress


@pytest.mark.parametrize("progress", ["yes", 1, None])
def test_progress_rejects_others(progress: object) -> None:
    with pytest.raises(TypeError):
        Config(progress=progress)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "auth", [("user",), ("u", "p", "x"), ("u", 1), ["u", "p"], "user:pass", 42, (None, "p")]
)
def test_auth_rejects_invalid(auth: object) -> None:
    with pytest.raises(TypeError):
        Config(auth=auth)  # type: ignore[arg-type]


def test_auth_headers_basic() -> None:
    config = Config(auth=("Aladdin", "open sesame"))
    assert config.auth_headers() == {"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}
    assert Config().auth_headers() == {}


@given(st.text(), st.text())
def test_auth_headers_basic_round_trip(user: str, password: str) -> None:
    header = Config(auth=(user, password)).auth_headers()["Authorization"]
    scheme, _, token = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token, validate=True).decode() == f"{user}:{password}"


def test_auth_headers_mapping() -> None:
    config = Config(auth={"X-JFrog-Art-Api": "k"})
    assert config.auth_headers() == {"X-JFrog-Art-Api": "k"}


def test_credential_names() -> None:
    assert Config().credential_names() >= {"authorization", "cookie", "proxy-authorization"}
    assert "authorization" in Config(auth=("u", "p")).credential_names()
    names = Config(auth={"X-JFrog-Art-Api": "k", "Private-Thing": "v"}).credential_names()
    assert {"x-jfrog-art-api", "private-thing", "authorization", "cookie"} <= names
    names = Config(headers={"X-Api-Key": "k", "Accept": "*/*"}).credential_names()
    assert "x-api-key" in names
    assert "accept" not in names


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=5))
def test_credential_names_are_lower_case_and_complete(auth: dict[str, str]) -> None:
    names = Config(auth=auth).credential_names()
    assert {name.lower() for name in auth} <= names
    assert {"authorization", "cookie"} <= names
    assert all(name == name.lower() for name in names)
