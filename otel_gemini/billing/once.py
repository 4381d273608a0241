"""Bill once per process: batch jobs read twice, interactions polled after completion, Veo operations polled.

One bounded, thread-safe memory of keys already billed; the oldest are forgotten first, so a long-running
poller cannot grow it forever (a key forgotten after 10,000 newer ones could be billed again — documented in
docs/batches.md and docs/billing-coverage.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class OncePerKey:
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: Hashable) -> bool:
        """True exactly once per key (while remembered): the caller that gets True does the billing."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self.limit:
                self._keys.popitem(last=False)
            return True

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys
