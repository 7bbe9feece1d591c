"""Files and folders the orchestrator keeps are its own: folders 0700, files 0600.

The data folder holds the SQLite store (every incident, event and timeline), the embedded
broker's messages and ``credentials.json``; another local user must read none of it.
Existing ones are tightened at start, so an install made before this rule is fixed too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from orchestrator.logging import get_logger

__all__ = ["private_file", "private_folder"]

_log = get_logger(__name__)
_FOLDER: Final = 0o700
_FILE: Final = 0o600


def private_folder(path: Path) -> None:
    """Create ``path`` (parents as the umask says) owner-only, or tighten it to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=_FOLDER)
    _tighten(path, _FOLDER)


def private_file(path: Path) -> None:
    """Create ``path`` empty with 0600 if it is missing, or tighten it to 0600.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX
    lock the process holds on it, and SQLite's locks on a database this process already has
    open (a second ``Store`` on the same file) would go with it, letting another process
    checkpoint over this one's writes.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, _FILE))
    _tighten(path, _FILE)


def _tighten(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o777 == mode:
        return
    try:
        path.chmod(mode)
    except PermissionError:  # not ours: say so, and carry on as before
        _log.warning("cannot make private", path=str(path), wanted=oct(mode))
