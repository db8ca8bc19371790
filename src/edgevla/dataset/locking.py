"""An exclusive advisory lock file, so two processes never write one dataset or store at once.

The kernel drops the lock when its holder dies (even by SIGKILL), so a crashed recorder never
blocks `resume`; only a live one does.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking, the rest works
    fcntl = None  # type: ignore[assignment]


class LockedError(RuntimeError):
    """Another live process holds the lock."""


class WriterLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, path: Path, blocking: bool = False) -> WriterLock:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is None:
                return cls(path, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                raise LockedError(
                    f"{path.parent} is in use by another process (lock file {path})"
                ) from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return cls(path, fd)
            os.close(fd)  # the holder removed the file as we locked it: lock the new one

    def release(self, remove: bool = True) -> None:
        if self._fd < 0:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = -1

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release(remove=False)
