"""The keyword options of ``download_many``, ``stream`` and ``download``, typed.

``Options`` mirrors :class:`~aiodl.Config` field by field (a test keeps the two equal), so
editors and type checkers know every keyword, and ``with_options`` gives each function a
runtime signature that spells them out with their defaults, so ``help()`` lists them too.

May import: aiodl._config, aiodl._urls
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import ssl
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, TypeVar

from ._config import Auth, Config, ProgressOption
from ._urls import Resolve

F = TypeVar("F", bound=Callable[..., Any])


class Options(TypedDict, total=False):
    """Any of :class:`~aiodl.Config`'s fields, as keywords; see its docstring."""

    split: int
    connections: int
    per_host: int
    retries: int
    timeout: float
    headers: Mapping[str, str]
    auth: Auth | None
    overwrite: bool
    max_redirects: int
    min_segment_size: int
    backoff: float
    backoff_cap: float
    max_retry_wait: float
    sync: bool
    verify: bool | ssl.SSLContext
    progress: ProgressOption
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    netrc: bool | str | os.PathLike[str]
    cookies: str | os.PathLike[str] | None
    cookie_jar: str | os.PathLike[str] | None
    checksums: str | os.PathLike[str] | None
    rate_limit: float | None
    host_rate_limit: float | None
    manifest: str | os.PathLike[str] | None
    max_size: int | None
    min_speed: float | None
    max_attempts: int
    shard: int
    resolve: Resolve | None
    credential_headers: tuple[str, ...]


def with_options(function: F) -> F:
    """Replace ``**options`` in ``function``'s runtime signature by Config's fields as
    keyword-only parameters with their defaults (what ``help()`` and ``inspect`` show)."""
    signature = inspect.signature(function)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    defaults = Config()
    keywords = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=getattr(defaults, field.name),
            annotation=field.type,
        )
        for field in dataclasses.fields(Config)
    ]
    function.__signature__ = signature.replace(parameters=[*fixed, *keywords])  # type: ignore[attr-defined]
    return function
