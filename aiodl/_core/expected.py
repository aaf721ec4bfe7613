"""What one file's bytes must hash to, and whether anything the user trusts checks them.

The digest is the request's (``checksum=``), else the checksums file's, else the
server's (a digest header of its first response). The checksums file is read by the
name the user asked for (the request's path, else the URL's last segment), so a server
that names the file otherwise (``filename="big.iso.download"``) cannot dodge its line;
only when that name has no line is the saved path tried. A checksums file without a line
for a file is reported as ``sha256sum -c`` reports it: the file is kept, with a warning
and ``Result.unverified``, never silently called checked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from .._credentials import mask_url
from .._digests import Checksum, lookup, parse_checksum
from .._disk.names import name_from_url
from .._models import Request

log = logging.getLogger("aiodl")


@dataclass(frozen=True, slots=True)
class Expected:
    """The digests known for ``request``: ``sums`` is the checksums file's, read from
    ``checksums`` (None when no checksums file was given)."""

    request: Request
    sums: Mapping[str, Checksum]
    checksums: str | os.PathLike[str] | None

    def digest(self, served: Checksum | None, saved: PurePosixPath) -> Checksum | None:
        """The digest the file saved at ``saved`` (below dest) must have; ``served`` is
        the server's, if it sent one."""
        given = self.request.checksum
        return (parse_checksum(given) if given else None) or self.listed(saved) or served

    def listed(self, saved: PurePosixPath) -> Checksum | None:
        """The checksums file's line: by the name asked for, else by ``saved``."""
        if not self.sums:  # the usual run: no name to work out per file
            return None
        return lookup(self.sums, PurePosixPath(self._asked()), saved)

    def unlisted(self, url: str, saved: PurePosixPath) -> bool:
        """True (and a warning naming ``url``) when a checksums file was given, it has no
        line for this file, and the request names no digest of its own."""
        if self.checksums is None or self.request.checksum or self.listed(saved):
            return False
        log.warning(
            "%s: %s has no line for %s, so it is not verified; add one to check it",
            url, mask_url(os.fspath(self.checksums)), self._asked(),
        )  # fmt: skip
        return True

    def _asked(self) -> str:
        return self.request.path or name_from_url(self.request.url)
