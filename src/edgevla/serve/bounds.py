"""Bounds on what a client can make the server hold, echo or log (DESIGN §5).

One owner each: `clip` for anything a client sent that goes into a status message or a log
line, `parse_json_object` for client JSON (size, depth and key caps before and after parsing),
`RateLimiter` for per-peer request rates, `Throttle` for repeated warnings. numpy-free.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

ECHO_CHARS = 240
"""The most characters of one client-sent value a status message or log line repeats."""

MESSAGE_CHARS = 1200
"""The most characters of one status message (several clipped values plus our own text)."""

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
MAX_JSON_KEYS = 512


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """repr(value) cut to `limit` chars, saying how long it was: a 1 MB name costs one line."""
    return clip_text(repr(value), limit)


def clip_message(message: str) -> str:
    """A whole status message or log line, bounded (the backstop behind per-value `clip`)."""
    return clip_text(message, MESSAGE_CHARS)


def clip_text(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` itself (no quotes) cut to `limit` chars, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... ({len(text)} chars, clipped)"


class JsonRejected(ValueError):
    """Client JSON that is too large, too deep, has too many keys, or is not a JSON object."""


def parse_json_object(text: str, where: str) -> dict:
    """The JSON object in `text`, or JsonRejected naming `where` and the cap it broke.

    The size cap comes first (a 100k-deep document never reaches the parser), then the
    parser's own recursion limit is caught, then depth and key counts are walked."""
    if len(text) > MAX_JSON_BYTES:
        raise JsonRejected(f"{where}: at most {MAX_JSON_BYTES} chars of JSON, got {len(text)}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonRejected(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as e:
        raise JsonRejected(f"{where}: expected a JSON object, got {clip(text)} ({e})") from None
    if not isinstance(value, dict):
        raise JsonRejected(f"{where}: expected a JSON object, got {type(value).__name__}")
    _check_shape(value, where)
    return value


def _check_shape(root: object, where: str) -> None:
    keys, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise JsonRejected(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict):
            keys += len(node)
            if keys > MAX_JSON_KEYS:
                raise JsonRejected(f"{where}: more than {MAX_JSON_KEYS} JSON keys")
        if isinstance(node, dict | list):
            stack.extend((child, depth + 1) for child in children)


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved; not thread-safe (RateLimiter locks)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RateLimiter:
    """A token bucket per key (a peer's host), at most `max_keys` remembered (least recently
    seen forgotten first), so a flood from many addresses cannot grow the table."""

    def __init__(
        self,
        rate: float,
        burst: float,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate limit needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate, self.burst, self.max_keys, self._clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
                if len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket.take(now)


class Throttle:
    """Lets one event per key through every `interval_s`, counting the ones it held back,
    so a flood of identical failures logs a line a second, not a line a call."""

    def __init__(
        self,
        interval_s: float = 1.0,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s, self.max_keys, self._clock = interval_s, max_keys, clock
        self._last: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str) -> int | None:
        """None: hold this one back; else the number held back since the last one let through."""
        now = self._clock()
        with self._lock:
            last, held = self._last.get(key, (-float("inf"), 0))
            if now - last < self.interval_s:
                self._last[key] = (last, held + 1)
                return None
            self._last[key] = (now, 0)
            self._last.move_to_end(key)
            if len(self._last) > self.max_keys:
                self._last.popitem(last=False)
            return held


class ThrottledLog:
    """A logger that writes at most one line per key a second (clipped), saying how many it
    held back: the one way the server logs anything a client can make it repeat. One per
    server (its counts are that server's)."""

    def __init__(self, logger: logging.Logger, interval_s: float = 1.0) -> None:
        self.logger = logger
        self._throttle = Throttle(interval_s)

    def log(self, key: str, level: int, message: str, *args: object) -> None:
        if not self.logger.isEnabledFor(level):
            return
        held = self._throttle.admit(key)
        if held is not None:
            suffix = f" (+{held} like it in the last second)" if held else ""
            self.logger.log(level, "%s%s", clip_message(message % args), suffix)
