"""Versioned, content-addressed backups of calibration files (LeRobot's JSON or any file).

A lost or silently changed calibration makes a recorded dataset and the robot disagree, so:
back up before recording, stamp `hash_files(...)` into every episode, `verify` before a session,
and `restore` an exact earlier version when something went wrong.

Store layout (a directory; `--store`, else $EDGEVLA_CALIB_STORE, else
~/.local/share/edgevla/calibration):

    index.json                  {"format": 1, "backups": [{id, path, sha256, size, time}, ...]}
    objects/<sha[:2]>/<sha256>  file contents, stored once per distinct content

JSON only, every write atomic, one writer at a time (a lock file). Standard library only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from edgevla.dataset.layout import atomic_write, atomic_write_json, read_json
from edgevla.dataset.locking import WriterLock

STORE_ENV = "EDGEVLA_CALIB_STORE"
INDEX_FORMAT = 1
OK, CHANGED, MISSING, NEVER = "ok", "changed", "missing", "never backed up"


def default_store_dir() -> Path:
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "edgevla" / "calibration"


@dataclass(frozen=True)
class Backup:
    id: str
    path: str  # absolute path of the original file
    sha256: str
    size: int
    time: str  # UTC, ISO 8601


@dataclass(frozen=True)
class BackupResult:
    backup: Backup
    created: bool  # False: the content equals the path's last backup, nothing new recorded


@dataclass(frozen=True)
class Restored:
    target: Path
    backup: Backup
    saved_first: Backup | None  # the overwritten file's content, if it was not backed up yet


@dataclass(frozen=True)
class Check:
    path: str
    status: str  # OK | CHANGED | MISSING | NEVER
    last: Backup | None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expand_files(paths: Iterable[str | Path]) -> list[Path]:
    """Absolute file paths: files as given, directories by all files below them; sorted."""
    files: set[Path] = set()
    for p in paths:
        path = Path(p).expanduser().absolute()
        if path.is_dir():
            files.update(f for f in path.rglob("*") if f.is_file())
        elif path.is_file():
            files.add(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return sorted(files)


def hash_files(paths: Iterable[str | Path]) -> str:
    """One SHA-256 over the files' names and contents, independent of argument order.

    Names are relative to the files' common parent directory, so the same calibration tree
    gives the same hash on another machine or under another home directory."""
    files = expand_files(paths)
    if not files:
        raise FileNotFoundError("no calibration files to hash")
    base = Path(os.path.commonpath([f.parent for f in files]))
    digest = hashlib.sha256()
    for f in files:
        name = f.relative_to(base).as_posix().encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(bytes.fromhex(sha256_file(f)))
    return digest.hexdigest()


class CalibrationStore:
    """A backup store in `directory` (created on first backup)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else default_store_dir()

    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    def _object_path(self, sha: str) -> Path:
        return self.directory / "objects" / sha[:2] / sha

    def _lock(self) -> WriterLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        return WriterLock.acquire(self.directory / ".lock", blocking=True)

    def _read_index(self) -> list[Backup]:
        if not self.index_path.exists():
            return []
        data = read_json(self.index_path)
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            raise ValueError(f"{self.index_path}: not a calibration index of format {INDEX_FORMAT}")
        try:
            return [Backup(**entry) for entry in data["backups"]]
        except (KeyError, TypeError) as e:
            raise ValueError(f"{self.index_path}: malformed entry ({e})") from None

    def _write_index(self, backups: Sequence[Backup]) -> None:
        data = {"format": INDEX_FORMAT, "backups": [asdict(b) for b in backups]}
        atomic_write_json(self.index_path, data, indent=2)

    def backup(self, paths: Iterable[str | Path]) -> list[BackupResult]:
        """Record a version of each file whose content differs from its last backup."""
        files = expand_files(paths)
        results = []
        with self._lock():
            backups = self._read_index()
            for f in files:
                data = f.read_bytes()
                sha = hashlib.sha256(data).hexdigest()
                last = _last_for(backups, str(f))
                if last is not None and last.sha256 == sha and self._object_path(sha).exists():
                    results.append(BackupResult(last, created=False))
                    continue
                obj = self._object_path(sha)
                if not obj.exists():
                    atomic_write(obj, lambda tmp, d=data: tmp.write_bytes(d))
                now = datetime.now(UTC).isoformat(timespec="microseconds")
                ident = hashlib.sha256(f"{f}\n{sha}\n{now}".encode()).hexdigest()[:12]
                entry = Backup(id=ident, path=str(f), sha256=sha, size=len(data), time=now)
                backups.append(entry)
                results.append(BackupResult(entry, created=True))
            self._write_index(backups)
        return results

    def list(self, path: str | Path | None = None) -> list[Backup]:
        """All backups, oldest first; only those of `path` (a file, or files under a dir)."""
        backups = self._read_index()
        if path is None:
            return backups
        target = Path(path).expanduser().absolute()
        return [b for b in backups if Path(b.path) == target or target in Path(b.path).parents]

    def find(self, ident: str) -> Backup:
        """The backup whose id is `ident` or starts with it (at least 4 characters)."""
        backups = self._read_index()
        exact = [b for b in backups if b.id == ident]
        matches = exact or (
            [b for b in backups if b.id.startswith(ident)] if len(ident) >= 4 else []
        )
        if not matches:
            raise KeyError(f"no calibration backup with id {ident!r} in {self.directory}")
        if len(matches) > 1:
            raise KeyError(f"id prefix {ident!r} is ambiguous: {[b.id for b in matches]}")
        return matches[0]

    def restore(self, ident: str, to: str | Path | None = None) -> Restored:
        """Write backup `ident` to its original path (or `to`), atomically. A current file
        there that was never backed up is backed up first, so restoring loses nothing; the
        restored content is then recorded as that path's latest backup."""
        entry = self.find(ident)
        target = Path(to).expanduser().absolute() if to is not None else Path(entry.path)
        obj = self._object_path(entry.sha256)
        try:
            data = obj.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"backup {entry.id}: stored copy {obj} is missing") from None
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise ValueError(f"backup {entry.id}: stored copy {obj} is corrupt (hash mismatch)")
        mode, saved = None, None
        if target.is_file():
            result = self.backup([target])[0]
            saved = result.backup if result.created else None
            mode = target.stat().st_mode
        atomic_write(target, lambda tmp: tmp.write_bytes(data))
        if mode is not None:
            os.chmod(target, mode)
        if target == Path(entry.path):
            self.backup([target])  # the restored version is now the one `verify` expects
        return Restored(target, entry, saved)

    def verify(self, paths: Iterable[str | Path]) -> list[Check]:
        """Compare each file (files under a directory, and files backed up from it that are
        gone now) with its last backup."""
        backups = self._read_index()
        wanted: list[Path] = []
        for p in paths:
            path = Path(p).expanduser().absolute()
            if path.is_dir():
                wanted.extend(f for f in path.rglob("*") if f.is_file())
                wanted.extend(Path(b.path) for b in backups if path in Path(b.path).parents)
            else:
                wanted.append(path)
        checks = []
        for f in sorted(set(wanted)):
            last = _last_for(backups, str(f))
            if not f.is_file():
                status = MISSING
            elif last is None:
                status = NEVER
            else:
                status = OK if sha256_file(f) == last.sha256 else CHANGED
            checks.append(Check(str(f), status, last))
        return checks


def _last_for(backups: Sequence[Backup], path: str) -> Backup | None:
    mine = [b for b in backups if b.path == path]
    return mine[-1] if mine else None
