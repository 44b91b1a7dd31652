"""Latest wins: a one-item hand-over between a producer and a slower consumer, counting what it dropped.

A stream session's prompts (points, boxes, fixations) and its encoded frames arrive faster than
they can be decoded at times. Queueing them would answer ever older prompts; the slot instead holds
only the newest item: ``put`` replaces an item not yet taken (one more dropped), ``take`` waits for
an item and returns it with the number dropped since the previous ``take``. Memory is one item,
whatever the rate. For one asyncio event loop (not thread safe: a worker thread hands items over
with ``loop.call_soon_threadsafe(slot.put, item)``).
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

Item = TypeVar("Item")


class LatestSlot(Generic[Item]):
    """Holds at most one item; the newest ``put`` wins."""

    def __init__(self) -> None:
        self._item: Item | None = None
        self._full = False
        self._dropped = 0
        self._ready = asyncio.Event()
        self.total_dropped = 0  # over the slot's life, for reports

    def put(self, item: Item) -> bool:
        """Offer ``item``; returns True when it replaced one that was never taken (counted as dropped)."""
        replaced = self._full
        if replaced:
            self.drop_one()
        self._item, self._full = item, True
        self._ready.set()
        return replaced

    def drop_one(self, carried: int = 0) -> None:
        """Count one more item dropped elsewhere (taken, then found too old to use), with the ``carried``
        drops its ``take`` reported: the next ``take`` reports them all."""
        self._dropped += 1 + carried
        self.total_dropped += 1

    async def take(self) -> tuple[Item, int]:
        """Wait for an item; returns (item, dropped since the previous take)."""
        while not self._full:
            self._ready.clear()
            await self._ready.wait()
        item, dropped = self._item, self._dropped
        self._item, self._full, self._dropped = None, False, 0
        return item, dropped

    def pending(self) -> bool:
        """True while an item waits to be taken."""
        return self._full
