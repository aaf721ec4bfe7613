"""Properties of retry decisions (aiodl._pacing.retry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._pacing.retry import RetryPolicy, is_retryable_status
from aiodl._protocols.http.rules import parse_retry_after

NOW = datetime(2024, 5, 17, 12, 0, 0, tzinfo=UTC)
RETRYABLE = [408, 425, 429, 500, 502, 503, 504]
PERMANENT = [400, 401, 403, 404, 405, 410, 416, 451, 501, 505]

rands = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
attempts = st.integers(min_value=0, max_value=1000)
policies = st.builds(
    RetryPolicy,
    retries=st.integers(min_value=0, max_value=20),
    base=st.floats(min_value=0.001, max_value=10.0),
    cap=st.floats(min_value=0.001, max_value=600.0),
    max_wait=st.floats(min_value=0.001, max_value=3600.0),
)


@pytest.mark.parametrize("status", RETRYABLE)
def test_retryable_statuses(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [*PERMANENT, 200, 206, 301, 304, 402, 409, 422])
def test_permanent_statuses(status: int) -> None:
    assert not is_retryable_status(status)


@given(st.integers(min_value=500, max_value=599))
def test_5xx_retryable_except_501_505(status: int) -> None:
    assert is_retryable_status(status) == (status not in (501, 505))


@given(st.integers(min_value=100, max_value=499))
def test_below_500_only_408_425_429(status: int) -> None:
    assert is_retryable_status(status) == (status in (408, 425, 429))


@given(st.integers(min_value=0, max_value=10**9))
def test_retry_after_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == float(seconds)
    assert parse_retry_after(f"  {seconds}\t", NOW) == float(seconds)


@given(st.integers(min_value=1, max_value=10**7))
def test_retry_after_future_date(seconds: int) -> None:
    value = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(value, NOW) == pytest.approx(seconds)


@given(st.integers(min_value=0, max_value=10**8))
def test_retry_after_past_date_is_zero(seconds: int) -> None:
    value = format_datetime(NOW - timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(value, NOW) == 0.0


def test_retry_after_examples() -> None:
    assert parse_retry_after("Fri, 17 May 2024 12:01:40 GMT", NOW) == 100.0
    assert parse_retry_after("Fri, 17 May 2024 14:01:40 +0200", NOW) == 100.0
    assert parse_retry_after("Fri, 17 May 2024 12:01:40 -0000", NOW) == 100.0  # naive -> UTC
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW) == 0.0
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "soon",
        "-5",
        "1.5",
        "1e3",
        "0x10",
        "Fri, 32 May 2024 12:00:00 GMT",
        "²",  # str.isdigit() is true, float() refuses it
        "1 Jan 2024 0:10000000000 GMT",  # minute overflows a C long
    ],
)
def test_retry_after_garbage_is_none(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


@given(st.text())
def test_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0.0


@given(
    st.from_regex(
        r"\A(Mon, )?[0-9]{1,25} (Jan|Feb|Dec) [0-9]{1,25} [0-9]{1,25}:[0-9]{1,25}(:[0-9]{1,25})?"
        r" (GMT|[+-][0-9]{4,25})\Z"
    )
)
def test_retry_after_date_like_never_raises(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0.0


@given(policies, attempts, rands)
def test_backoff_is_equal_jitter_within_the_capped_step(
    policy: RetryPolicy, attempt: int, rand: float
) -> None:
    wait = policy.backoff(attempt, rand)
    step = min(policy.cap, policy.base * 2.0**attempt)
    assert step / 2 <= wait <= step
    assert wait <= policy.cap


@given(policies, st.integers(min_value=1000, max_value=10**6), rands)
def test_backoff_is_capped_for_any_attempt(policy: RetryPolicy, attempt: int, rand: float) -> None:
    # retries is any int >= 0 (Config allows retries=10**6), so attempt can get this big
    assert policy.cap / 2 <= policy.backoff(attempt, rand) <= policy.cap


@given(policies, attempts, rands)
def test_backoff_never_decreases_with_attempt(
    policy: RetryPolicy, attempt: int, rand: float
) -> None:
    assert policy.backoff(attempt, rand) <= policy.backoff(attempt + 1, rand)


def test_backoff_examples() -> None:
    policy = RetryPolicy(base=0.5, cap=30.0)
    assert policy.backoff(0, 0.0) == 0.25
    assert policy.backoff(0, 0.5) == 0.375
    assert policy.backoff(3, 0.0) == 2.0
    assert policy.backoff(100, 0.0) == 15.0
    assert policy.backoff(100, 0.999) == pytest.approx(29.985)


@given(policies, st.integers(min_value=0, max_value=100), rands)
def test_delay_gives_up_after_the_last_retry(policy: RetryPolicy, extra: int, rand: float) -> None:
    assert policy.delay(policy.retries + extra, None, None, rand) is None
    assert policy.delay(policy.retries + extra, 503, 1.0, rand) is None


@given(policies, st.sampled_from(PERMANENT), rands)
def test_delay_gives_up_on_permanent_status(policy: RetryPolicy, status: int, rand: float) -> None:
    assert policy.delay(0, status, None, rand) is None
    assert policy.delay(0, status, 0.0, rand) is None


@given(policies, st.data(), st.sampled_from([None, *RETRYABLE]), rands)
def test_delay_retries_with_backoff(
    policy: RetryPolicy, data: st.DataObject, status: int | None, rand: float
) -> None:
    if policy.retries == 0:
        assert policy.delay(0, status, None, rand) is None
        return
    attempt = data.draw(st.integers(min_value=0, max_value=policy.retries - 1))
    assert policy.delay(attempt, status, None, rand) == policy.backoff(attempt, rand)


@given(policies, st.data(), st.sampled_from([None, *RETRYABLE]), rands)
def test_delay_honours_retry_after(
    policy: RetryPolicy, data: st.DataObject, status: int | None, rand: float
) -> None:
    if policy.retries == 0:
        return
    attempt = data.draw(st.integers(min_value=0, max_value=policy.retries - 1))
    retry_after = data.draw(st.floats(min_value=0.0, max_value=2 * policy.max_wait))
    wait = policy.delay(attempt, status, retry_after, rand)
    if retry_after > policy.max_wait:
        assert wait is None
    else:
        assert wait == max(retry_after, policy.backoff(attempt, rand))


def test_delay_examples() -> None:
    policy = RetryPolicy(retries=3, base=1.0, cap=8.0, max_wait=60.0)
    assert policy.delay(0, 503, None, 0.0) == 0.5
    assert policy.delay(0, 429, 10.0, 0.0) == 10.0  # Retry-After wins when larger
    assert policy.delay(2, 503, 0.1, 0.0) == 2.0  # backoff wins when larger
    assert policy.delay(0, 429, 61.0, 0.0) is None  # asks for too long: give up
    assert policy.delay(0, 429, 60.0, 0.0) == 60.0
    assert policy.delay(3, None, None, 0.0) is None
    assert policy.delay(0, 404, None, 0.0) is None


def test_default_policy() -> None:
    assert RetryPolicy() == RetryPolicy(retries=5, base=0.5, cap=30.0, max_wait=300.0)


@given(st.integers(0, 20), st.integers(0, 20))
def test_at_most_never_raises_the_retries(configured: int, cap: int) -> None:
    """A source with others to fall back on gets fewer tries, never more than asked for."""
    assert RetryPolicy(retries=configured).at_most(cap).retries == min(configured, cap)


def _imf_fixdate(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _rfc850(when: datetime) -> str:
    return when.strftime("%A, %d-%b-%y %H:%M:%S GMT")


def _asctime(when: datetime) -> str:
    return f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}"


@given(
    st.datetimes(min_value=datetime(1969, 1, 1), max_value=datetime(2068, 12, 31)),
    st.sampled_from([_imf_fixdate, _rfc850, _asctime]),
    st.datetimes(min_value=datetime(1969, 1, 1), max_value=datetime(2068, 12, 31)),
)
def test_retry_after_in_all_three_http_date_formats(
    when: datetime, layout: Callable[[datetime], str], now: datetime
) -> None:
    """RFC 9110 section 5.6.7: IMF-fixdate, obsolete RFC 850 and asctime dates all mean
    the same instant (UTC; asctime has no zone) and give the seconds from ``now`` to it."""
    when = when.replace(microsecond=0, tzinfo=UTC)
    now = now.replace(tzinfo=UTC)
    expected = max(0.0, (when - now).total_seconds())
    assert parse_retry_after(layout(when), now) == pytest.approx(expected)


@given(st.text(), st.datetimes(timezones=st.just(UTC)))
@example("Fri, 31 Dec 9999 23:59:59 -2359", datetime.min.replace(tzinfo=UTC))
@example("Mon, 01 Jan 1900 00:00:00 +2359", datetime.max.replace(tzinfo=UTC))
@example("9" * 5000, NOW)
def test_retry_after_any_text_at_any_time(value: str, now: datetime) -> None:
    """Any header value at any clock: None, or a wait that is a number >= 0 (a server
    asking for more than ``max_wait`` is refused by ``delay``, which needs no NaN)."""
    wait = parse_retry_after(value, now)
    assert wait is None or wait >= 0.0
    if wait is not None:
        assert RetryPolicy().delay(0, 503, wait, 0.5) in (None, max(wait, 0.25 + 0.125))


@given(policies, st.sampled_from([None, *RETRYABLE]), rands)
def test_a_retryable_failure_is_retried_exactly_retries_times(
    policy: RetryPolicy, status: int | None, rand: float
) -> None:
    """Following ``delay`` from attempt 0 gives ``retries`` waits, each within the capped
    backoff step, and then gives up; their sum is bounded by ``retries * cap``."""
    waits = []
    attempt = 0
    while (wait := policy.delay(attempt, status, None, rand)) is not None:
        waits.append(wait)
        attempt += 1
        assert attempt <= policy.retries
    assert len(waits) == policy.retries
    assert sum(waits) <= policy.retries * policy.cap + 1e-9
