"""The benchmarks' progress bar: tqdm on a terminal; one line per step when stderr is a file
(a `nohup` log); nothing when progress is off."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """`total` steps of `unit` (episode, recipe); `set_postfix_str` says what runs now."""

    def __init__(self, total: int, enabled: bool, unit: str = "episode") -> None:
        self._bar, self._lines = None, False
        self._total, self._done, self._began = total, 0, time.monotonic()
        self._text, self._unit = "", unit
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit=unit, dynamic_ncols=True)
        self._lines = enabled and self._bar is None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, n: int) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._lines:
            elapsed = time.monotonic() - self._began
            print(
                f"[{self._done}/{self._total} {self._unit}s, {elapsed:.0f} s] {self._text}",
                file=sys.stderr,
                flush=True,
            )

    def set_postfix_str(self, text: str) -> None:
        self._text = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
