"""Client side of Shopify's calculated-query-cost leaky bucket.

Every response carries `extensions.cost.throttleStatus` (maximumAvailable, currentlyAvailable,
restoreRate). The bucket keeps the last status and refills it with wall-clock time, so a request
whose expected cost does not fit waits *before* it is sent instead of being THROTTLED. Real time
only: Shopify's bucket is never scaled by the simulated clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

MIN_THROTTLE_WAIT_S = 0.5  # after a THROTTLED answer, never retry sooner than this


class CostBucket:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.maximum: float | None = None
        self.restore_rate: float | None = None
        self._available = 0.0
        self._at = 0.0
        self.waited_s = 0.0  # total time spent waiting, for metrics

    @property
    def known(self) -> bool:
        return self.maximum is not None and bool(self.restore_rate)

    def available(self) -> float | None:
        """Points available now, by the last status refilled at the restore rate (None: unknown)."""
        if not self.known:
            return None
        assert self.maximum is not None and self.restore_rate is not None
        elapsed = max(0.0, self._monotonic() - self._at)
        return min(self.maximum, self._available + elapsed * self.restore_rate)

    def update(self, throttle_status: dict[str, Any] | None) -> None:
        """Take Shopify's word for the bucket (from `extensions.cost.throttleStatus`)."""
        if not throttle_status:
            return
        try:
            self.maximum = float(throttle_status["maximumAvailable"])
            self.restore_rate = float(throttle_status["restoreRate"])
            self._available = float(throttle_status["currentlyAvailable"])
        except (KeyError, TypeError, ValueError):
            return
        self._at = self._monotonic()

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` points fit (0 when they fit now or the bucket is unknown)."""
        available = self.available()
        if available is None:
            return 0.0
        assert self.maximum is not None and self.restore_rate is not None
        needed = min(cost, self.maximum) - available
        return max(0.0, needed / self.restore_rate)

    async def reserve(self, cost: float) -> float:
        """Wait until `cost` fits, then count it as spent. Returns the time waited."""
        async with self._lock:
            delay = self.wait_for(cost)
            if delay > 0:
                self.waited_s += delay
                await self._sleep(delay)
            available = self.available()
            if available is not None:
                self._available = max(0.0, available - cost)
                self._at = self._monotonic()
            return delay

    def throttled_wait(self, requested_cost: float, throttle_status: dict[str, Any] | None) -> float:
        """How long to wait after a THROTTLED answer: (needed − available) / restoreRate."""
        self.update(throttle_status)
        return max(MIN_THROTTLE_WAIT_S, self.wait_for(requested_cost))
