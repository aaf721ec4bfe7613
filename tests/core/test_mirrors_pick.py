"""Choosing among a file's sources (aiodl._core.mirrors): pure, so driven by generated states."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aiodl._core.mirrors import MAX_RANGES_SHOWN, Mirror, disagreement, pick, provenance
from aiodl._protocols.driver import Endpoint, RemoteFile


class _NoDriver:
    async def open(self, *args: object) -> object:
        raise AssertionError("pure tests open nothing")


def origin(url: str = "http://a/f", **state: object) -> Mirror:
    made = Mirror(Endpoint(url, {}, frozenset(), _NoDriver()))  # type: ignore[arg-type]
    for name, value in state.items():
        setattr(made, name, value)
    return made


STATES = st.lists(
    st.tuples(
        st.booleans(),  # dropped
        st.integers(0, 8),  # workers
        st.integers(0, 1 << 30),  # bytes moved
        st.floats(0, 100),  # connection seconds
    ),
    min_size=1,
    max_size=6,
)


def build(states: list[tuple[bool, int, int, float]]) -> list[Mirror]:
    return [
        origin(f"http://m{i}/f", dropped="broken" if dead else None, workers=w, moved=m, seconds=s)
        for i, (dead, w, m, s) in enumerate(states)
    ]


@given(STATES)
def test_pick_never_chooses_a_dropped_source(states: list[tuple[bool, int, int, float]]) -> None:
    origins = build(states)
    chosen = pick(origins)
    if all(not o.live for o in origins):
        assert chosen is None
    else:
        assert chosen is not None
        assert chosen.live


@given(STATES)
def test_an_untried_source_is_tried_before_a_measured_one(
    states: list[tuple[bool, int, int, float]],
) -> None:
    origins = build(states)
    chosen = pick(origins)
    untried = [o for o in origins if o.live and o.speed is None]
    if untried:
        assert chosen in untried
        assert chosen is not None
        assert chosen.workers == min(o.workers for o in untried)


@given(STATES)
def test_among_measured_sources_the_fastest_connection_wins(
    states: list[tuple[bool, int, int, float]],
) -> None:
    origins = [o for o in build(states) if o.speed is not None]
    chosen = pick(origins)
    live = [o for o in origins if o.live]
    if live:
        assert chosen is not None
        assert chosen.speed == max(o.speed or 0.0 for o in live)


def test_new_connections_spread_over_untried_sources_in_order() -> None:
    origins = [origin("http://a/f"), origin("http://b/f"), origin("http://c/f")]
    chosen = []
    for _ in range(5):
        next_one = pick(origins)
        assert next_one is not None
        next_one.workers += 1
        chosen.append(next_one.url)
    assert chosen == ["http://a/f", "http://b/f", "http://c/f", "http://a/f", "http://b/f"]


def file(size: int | None, etag: str | None = None) -> RemoteFile:
    return RemoteFile("http://a/f", size, True, etag=etag)


@given(st.integers(0, 1 << 40), st.integers(0, 1 << 40), st.booleans())
def test_another_size_is_always_another_file(a: int, b: int, strict: bool) -> None:
    verdict = disagreement(file(a), file(b), strict=strict)
    assert (verdict is None) == (a == b)


def test_etags_count_only_when_strict_and_both_sent() -> None:
    assert disagreement(file(10, '"x"'), file(10, '"y"'), strict=True) == 'its ETag is "y", not "x"'
    assert disagreement(file(10, '"x"'), file(10, '"y"'), strict=False) is None
    assert disagreement(file(10, '"x"'), file(10, None), strict=True) is None
    assert disagreement(file(10, '"x"'), file(10, '"x"'), strict=True) is None


def test_provenance_names_each_source_and_masks_passwords() -> None:
    good = origin("http://good/f")
    good.note(0, 100, 1.0)
    bad = origin("ftp://user:secret@bad/f")
    bad.note(100, 50, 1.0)
    idle = origin("http://idle/f")
    text = provenance([good, bad, idle])
    assert "http://good/f sent 0-99" in text
    assert "sent 100-149" in text
    assert "secret" not in text
    assert "http://idle/f sent nothing" in text


def test_provenance_shortens_a_long_list_of_ranges() -> None:
    many = origin()
    for i in range(3 * MAX_RANGES_SHOWN):
        many.note(10 * i, 5, 0.1)
    text = provenance([many])
    assert text.count("-") == MAX_RANGES_SHOWN
    assert f"({3 * MAX_RANGES_SHOWN} ranges)" in text
