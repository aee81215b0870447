"""A small in-process cache: values by key, the least recently used dropped past a size, safe across threads.

What the registry's generation cache (:mod:`vibedash.registry.generation`) and the k-curve cache of
:mod:`vibedash.eval.reports` keep their values in. ``compute`` runs outside the lock: two threads missing the same
key may both compute it (the values are equal), but no thread waits on another's computation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class BoundedCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T], still_valid: Callable[[T], bool] | None = None) -> T:
        """The value kept for ``key`` (unless ``still_valid`` refuses it), else ``compute()``, kept."""
        with self._lock:
            if key in self._values and (still_valid is None or still_valid(self._values[key])):
                self._values.move_to_end(key)
                self.hits += 1
                return self._values[key]
        value = compute()
        with self._lock:
            self.misses += 1
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def drop(self, which: Callable[[Hashable, Any], bool]) -> None:
        """Drop every kept (key, value) that ``which`` picks."""
        with self._lock:
            for key in [k for k, v in self._values.items() if which(k, v)]:
                del self._values[key]

    def values(self) -> list[Any]:
        """The values kept now, least recently used first."""
        with self._lock:
            return list(self._values.values())

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
