"""The one error type for unreadable or inconsistent checkpoints."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(ValueError):
    """A checkpoint file is missing, malformed, or disagrees with the policy's config.

    The message always names the file and, where there is one, the key; both are also kept as
    attributes so callers (the CLI, tests) can report them without parsing text.
    """

    def __init__(self, file: str | Path, message: str, key: str | None = None) -> None:
        self.file = Path(file)
        self.key = key
        where = f"{self.file}" if key is None else f"{self.file} [{key}]"
        super().__init__(f"{where}: {message}")
