"""Re-syncs (wget's ``-N``): a copy already at a target is kept only when the server's
answer proves it the server's version, and the first request asks "only if changed".

The proof is the same size and the server's modification time (HTTP Last-Modified, FTP
MDTM/MLSD) on the file, or the strong ETag recorded with it (``_disk.validators``); a
known digest is checked as well. A 304 tells no size: it keeps the copy only when its
own ETag or Last-Modified proves it, otherwise the file is asked for again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from .._disk.validators import Copy, Validators, existing_copy
from .._protocols.driver import Held, RemoteFile
from .context import RunContext


def validators(info: RemoteFile) -> Validators:
    """What proves a copy this version: the server's time, its strong ETag."""
    return Validators(info.modified, info.strong_etag)


def held_copy(context: RunContext, target: PurePosixPath) -> Copy | None:
    """The file already at ``target`` below dest (none under ``overwrite``)."""
    return None if context.config.overwrite else existing_copy(context.folders, target)


def asking(copy: Copy | None) -> Held | None:
    """What the first request tells the server of the copy there."""
    return None if copy is None else Held(copy.etag, copy.modified)


def not_modified(answer: RemoteFile, copy: Copy | None) -> RemoteFile | None:
    """The file a 304 describes (with the copy's size), or None when it proves nothing:
    it names no strong ETag and no time to compare the copy with."""
    if copy is None or validators(answer) == Validators():
        return None
    return replace(answer, size=copy.size)
