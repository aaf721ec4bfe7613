"""aiodl: an asyncio downloader that is fast, resumable, verified and safe.

    results = await aiodl.download_many(urls, "downloads")

Runs on the caller's event loop. See ``aiodl._exceptions`` for the error tree.
"""

import logging

from ._api import download, download_many, stream
from ._config import Config
from ._exceptions import (
    ConnectError,
    ConnectionLimitError,
    DownloadError,
    DownloadTimeout,
    FileChangedError,
    FTPError,
    HTTPStatusError,
    IntegrityError,
    LocalFileError,
    MirrorRejected,
    TooSlow,
    TransferError,
    UnsafePathError,
)
from ._models import (
    Advanced,
    Event,
    Failed,
    Finished,
    Listed,
    Request,
    Result,
    Retried,
    Started,
)
from ._options import Options
from ._version import __version__

# A library logs, the application decides where logs go.
logging.getLogger("aiodl").addHandler(logging.NullHandler())

__all__ = [
    "Advanced",
    "Config",
    "ConnectError",
    "ConnectionLimitError",
    "DownloadError",
    "DownloadTimeout",
    "Event",
    "FTPError",
    "Failed",
    "FileChangedError",
    "Finished",
    "HTTPStatusError",
    "IntegrityError",
    "Listed",
    "LocalFileError",
    "MirrorRejected",
    "Options",
    "Request",
    "Result",
    "Retried",
    "Started",
    "TooSlow",
    "TransferError",
    "UnsafePathError",
    "__version__",
    "download",
    "download_many",
    "stream",
]
