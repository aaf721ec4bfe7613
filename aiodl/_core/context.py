"""What every file of one run shares, handed down explicitly: the engine makes one
``RunContext`` and each file's download gets it, instead of calling back into the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._config import Config
from .._digests import Checksum
from .._disk.commit import Committer
from .._disk.folders import Folders
from .._disk.journal import Journal
from .._pacing.bucket import Throttle
from .._pacing.hosts import Hosts
from .events import Reporter
from .job import Targets


@dataclass
class RunContext:
    """The run's options, where files go and what is known of them, and its limits.

    ``synced_folders`` collects the folders renamed into (synced once, at the end);
    ``throttle`` is the run's bandwidth cap, if any.
    """

    config: Config
    dest: Path
    folders: Folders
    journal: Journal
    committer: Committer
    hosts: Hosts
    events: Reporter
    sums: Mapping[str, Checksum]
    throttle: Throttle | None = None
    targets: Targets = field(default_factory=Targets)
    synced_folders: set[Path] = field(default_factory=set)

    @classmethod
    def of(cls, config: Config, dest: Path, sums: Mapping[str, Checksum]) -> RunContext:
        """The context of a run of ``config`` into ``dest``."""
        return cls(
            config=config,
            dest=dest,
            folders=Folders(dest),
            journal=Journal(dest),
            committer=Committer(config.sync),
            hosts=Hosts(
                config.per_host, config.connections, config.host_rate_limit, config.max_retry_wait
            ),
            events=Reporter(config.progress if callable(config.progress) else None),
            sums=sums,
            throttle=Throttle(config.rate_limit) if config.rate_limit else None,
        )
