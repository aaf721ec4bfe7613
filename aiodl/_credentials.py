"""Credentials in one place: where logins come from, which headers carry secrets, which
headers may follow a redirect, and masking secrets out of everything shown.

A login comes from the URL's user-info, the run's ``auth``, or a netrc file (read once per
run); HTTP sends it as basic authentication, FTP as USER/PASS, anonymous when none.
Headers that carry credentials never leave their origin, and no URL is logged, reported
or printed before ``mask_url`` has replaced its secrets with ``***``.

May import: aiodl._urls
"""

from __future__ import annotations

import base64
import netrc
import os
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote, unquote_plus, urlsplit

from ._urls import origin

Login = tuple[str, str]
"""``(user, password)``."""
Logins = Callable[[str], Login | None]
"""A host's login, if a netrc file has one."""

# Headers that carry credentials whatever the caller called them.
ALWAYS_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})
# Header and query-parameter names whose values are secrets (API keys, signatures,
# session ids, Akamai's hdnts tokens), as parts of a name...
_SECRET_NAMES = re.compile(
    r"pass|pwd|secret|token|key|sig|credential|auth|jwt|session|sessid|hdnts", re.IGNORECASE
)
# ...as whole names (an OAuth ``code``; "code" inside a name is mostly a zip or country
# code), and as a family (Google's ``X-Goog-`` headers carry keys, tokens and projects).
_SECRET_WHOLE_NAMES = frozenset({"code", "x-jfrog-art-api"})
_SECRET_PREFIXES = ("x-goog-",)
MASK = "***"
# scheme://authority, then the rest (path, query, fragment), as urlsplit cuts them.
_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)(.*)", re.DOTALL)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


def redirect_headers(
    headers: Mapping[str, str], credentials: Iterable[str], current: str, target: str
) -> dict[str, str]:
    """The request headers given for ``current`` that may go to ``target``, a hop of its
    redirect chain.

    Across origins, Authorization, Cookie and every header the caller marked as a credential
    (an API key header, say) are dropped: another host must not receive them.
    """
    if origin(current) == origin(target):
        return dict(headers)
    secret = ALWAYS_CREDENTIALS | {name.lower() for name in credentials}
    return {name: value for name, value in headers.items() if name.lower() not in secret}


def looks_secret(name: str) -> bool:
    """True for header or parameter names that conventionally carry secrets."""
    lowered = name.lower()
    return (
        _SECRET_NAMES.search(lowered) is not None
        or lowered in _SECRET_WHOLE_NAMES
        or lowered.startswith(_SECRET_PREFIXES)
    )


def mask_url(url: str) -> str:
    """``url`` with its user-info and secret-looking parameter values replaced by ``***``.

    ``user:password@`` keeps the user; a lone ``user@`` is masked whole, being where
    tokens are commonly put (curl sends it as a login). Parameters are masked in the
    query and the fragment (``&`` or ``;`` separated) and in path segments
    (``;jsessionid=``). Never raises: a URL too broken to parse is masked as text.
    """
    if not any(mark in url for mark in "@?#;="):
        return url  # nothing to mask; the common case, called for every file
    match = _AUTHORITY.fullmatch(url)
    prefix, authority, rest = match.groups() if match else ("", "", url)
    rest, hash_mark, fragment = rest.partition("#")
    path, question_mark, query = rest.partition("?")
    path = "/".join(_mask_params(segment, ";") for segment in path.split("/"))
    return (
        f"{prefix}{_mask_userinfo(authority)}{path}"
        f"{question_mark}{_mask_params(query, '&;')}{hash_mark}{_mask_params(fragment, '&;')}"
    )


def _mask_userinfo(authority: str) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    if not userinfo:
        return authority
    user, colon, _ = userinfo.partition(":")
    return f"{user}:{MASK}{at}{hostport}" if colon else f"{MASK}{at}{hostport}"


def _mask_params(text: str, separators: str) -> str:
    """``a=1&token=x`` with secret-looking values masked, the rest left as written;
    names are compared decoded (``%74oken`` is ``token`` to the server)."""
    if "=" not in text:
        return text
    pieces = re.split(f"([{separators}])", text)
    for number, piece in enumerate(pieces):
        name, equals, _ = piece.partition("=")
        if equals and looks_secret(unquote_plus(name)):
            pieces[number] = f"{name}={MASK}"
    return "".join(pieces)


def mask_text(text: str) -> str:
    """``text`` with every URL in it masked: an exception's message may quote one."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group()), text)


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    """The Authorization header of HTTP basic authentication."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def userinfo_login(url: str) -> Login | None:
    """The login a URL carries (``scheme://user:pass@host/``), percent-decoded."""
    parts = urlsplit(url)
    if not parts.username:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def with_userinfo(url: str, headers: dict[str, str]) -> dict[str, str]:
    """``http://user:pass@host/`` means basic authentication, as in curl and aiohttp,
    unless the request already says who it is."""
    login = userinfo_login(url)
    if login is None or any(name.lower() == "authorization" for name in headers):
        return headers
    return {**headers, **basic_auth_header(*login)}


def netrc_header(url: str, logins: Logins) -> dict[str, str]:
    """Basic credentials from netrc for a host whose URL carries none. Authorization
    is always a credential: a redirect to another origin drops it."""
    parts = urlsplit(url)
    login = None if parts.username else logins(parts.hostname or "")
    return {} if login is None else basic_auth_header(*login)


def ftp_login(url: str, auth: Login | None, logins: Logins) -> Login:
    """Who logs in to an FTP URL: its user-info, else ``auth``, else netrc, else
    anonymous (the order curl uses)."""
    host = urlsplit(url).hostname or ""
    return userinfo_login(url) or auth or logins(host) or ("anonymous", "anonymous@")


def netrc_logins(
    option: bool | str | os.PathLike[str],
) -> Logins:
    """A host -> (login, password) lookup from a netrc file: ``~/.netrc`` for True (none
    there is no error), the given file otherwise. A file that is missing or does not
    parse is an invalid option (ValueError), raised before anything is downloaded."""
    if option is False:
        return lambda host: None
    path = None if option is True else os.fspath(option)
    try:
        parsed = netrc.netrc(path)
    except FileNotFoundError:
        if path is None:
            return lambda host: None
        raise ValueError(f"netrc file not found: {path}") from None
    except (netrc.NetrcParseError, OSError) as error:
        raise ValueError(f"netrc file unusable: {error}") from None

    def login(host: str) -> Login | None:
        entry = parsed.authenticators(host)
        return None if entry is None else (entry[0], entry[2] or "")

    return login
