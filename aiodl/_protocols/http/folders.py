"""HTTP(S) folders: a folder URL's index page, fetched and read as its entries.

The page is asked for like a file (the run's headers, its origin's credentials, the
driver's redirect rules, retried by the caller under the host's limit), then read into
memory a block at a time and parsed as it arrives (``listing.IndexPage``), with the loop
given its turn between blocks and the whole bounded by ``MAX_PAGE``.

What is a folder: a response whose Content-Type is HTML. Anything else is NotAFolder:
the URL a caller gave is then saved as a file, as curl and wget without ``-r`` save it.

A redirect may rename the page inside its folder (``/tree/`` -> ``/tree/index.html``),
nothing more: a page served from another folder or origin would have its links taken
under this folder's names, so the walk stops there and says where it went.
"""

from __future__ import annotations

from multidict import CIMultiDictProxy

from ..._credentials import mask_url
from ..._exceptions import DownloadError
from ..._network.sockcopy import Collected
from ..._network.turns import Turns
from ..._urls import origin
from ..driver import Body, NotAFolder
from ..entries import Listing
from .listing import IndexPage, is_html

MAX_PAGE = 16 << 20  # an index page larger than this is a hostile server (~100,000 names)
BLOCK = 64 << 10  # read (and parsed) this much at a time: ~5 ms of html.parser


def index_page(folder: str, url: str, headers: CIMultiDictProxy[str]) -> IndexPage:
    """How to read the answer (from ``url``) to folder URL ``folder``, or why it is none."""
    content_type = headers.get("Content-Type")
    if not is_html(content_type):
        raise NotAFolder(
            f"not a folder listing: the server answered {content_type or 'no Content-Type'}, "
            "not an HTML page; fetch it by its URL without the trailing slash",
            url=mask_url(folder),
        )
    if origin(url) != origin(folder) or _folder_of(url) != _folder_of(folder):
        raise DownloadError(
            f"the folder's listing redirected to {mask_url(url)}, outside the tree being "
            "walked; walk that URL itself if it is wanted",
            url=mask_url(folder),
        )
    coding = headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        raise DownloadError(
            f"the folder's listing came with Content-Encoding {coding!r} although none "
            "was asked for; the server must send it uncompressed",
            url=mask_url(folder),
        )
    return IndexPage(url, content_type)


def _folder_of(url: str) -> str:
    path = url.split("#", 1)[0].split("?", 1)[0]
    return path[: path.rfind("/") + 1]


async def read_index(body: Body, page: IndexPage, folder: str) -> Listing:
    """Read ``body`` to its end into ``page``; the entries it lists."""
    sink, total, turns = Collected(), 0, Turns()
    try:
        while moved := await body.copy_to(sink, total, BLOCK):
            total += moved
            if total > MAX_PAGE:
                raise DownloadError(
                    f"the folder's listing is larger than {MAX_PAGE >> 20} MiB; fetch its "
                    "files by their own URLs instead",
                    url=mask_url(folder),
                )
            page.feed(sink.take())
            await turns.give()
        return page.close()
    finally:
        await body.aclose()
