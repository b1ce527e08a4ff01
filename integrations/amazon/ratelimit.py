"""Client-side rate limiting and retries for SP-API operations.

Each operation has its own token bucket. It starts from Amazon's documented usage plan and follows
the `x-amzn-RateLimit-Limit` header of every response (Amazon may grant more, a simulator with a
fast clock grants much more). A 429 drains the bucket and backs off exponentially with jitter;
5xx answers, timeouts and connection failures are retried with the same backoff. What is still
failing after `max_retries` retries becomes `RateLimited` or `AmazonUnavailable`; any other 4xx
is an `AmazonApiError` carrying Amazon's own message at once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from integrations.amazon.errors import AmazonApiError, AmazonUnavailable, RateLimited

T = TypeVar("T")

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"


@dataclass(frozen=True)
class UsagePlan:
    rate: float  # requests per second, sustained
    burst: int


# Documented defaults (contracts/sp-api/REPORTS.md and the models' "Usage Plan" tables).
DEFAULT_USAGE_PLANS: dict[str, UsagePlan] = {
    "createReport": UsagePlan(0.0167, 15),
    "getReport": UsagePlan(2.0, 15),
    "getReportDocument": UsagePlan(0.0167, 15),
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),
    "getInventorySummaries": UsagePlan(2.0, 2),
    "getShipments": UsagePlan(2.0, 30),
    "getShipmentItemsByShipmentId": UsagePlan(2.0, 30),
    "listFinancialEvents": UsagePlan(0.5, 30),
    "getMarketplaceParticipations": UsagePlan(0.016, 15),
}


class HttpFailure(Exception):
    """A non-2xx HTTP answer, raised by the transport so that `RateLimiter` can classify it."""

    def __init__(self, status: int, headers: Mapping[str, str] | None, body: bytes | str) -> None:
        self.status = status
        self.headers: Mapping[str, str] = headers or {}
        self.body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        super().__init__(f"HTTP {status}: {self.body[:300]}")

    def amazon_error(self) -> tuple[str, str, str]:
        """(code, message, details) from an SP-API `{"errors": [...]}` or LWA `{"error": ...}` body."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return (f"HTTP{self.status}", self.body[:300].strip() or f"HTTP {self.status}", "")
        if isinstance(data, dict):
            errors = data.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                first = errors[0]
                return (
                    str(first.get("code", "")),
                    str(first.get("message", "")),
                    str(first.get("details") or ""),
                )
            if "error" in data:
                return (str(data["error"]), str(data.get("error_description", "")), "")
        return (f"HTTP{self.status}", self.body[:300], "")


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


class TokenBucket:
    def __init__(self, rate: float, burst: int, *, now: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._now = rate, max(1, burst), now
        self.tokens = float(self.burst)
        self._stamp = now()

    def _refill(self) -> None:
        now = self._now()
        self.tokens = min(float(self.burst), self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def set_rate(self, rate: float) -> None:
        if rate > 0 and rate != self.rate:
            self._refill()
            self.rate = rate

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is there now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    def drain(self) -> None:
        self._refill()
        self.tokens = min(self.tokens, 0.0)


class RateLimiter:
    """Per-operation buckets + retry policy. `stats` counts attempts per operation and
    `throttled:<operation>` / `errors:<operation>` per 429 / transient failure."""

    def __init__(
        self,
        plans: Mapping[str, UsagePlan] | None = None,
        *,
        max_retries: int = 6,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        seed: int | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._plans = dict(DEFAULT_USAGE_PLANS if plans is None else plans)
        self._buckets: dict[str, TokenBucket] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.max_retries = max_retries
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self._random = random.Random(seed)
        self._sleep = sleep
        self.stats: dict[str, int] = defaultdict(int)

    def bucket(self, operation: str) -> TokenBucket | None:
        if operation not in self._buckets:
            plan = self._plans.get(operation)
            if plan is None:
                return None
            self._buckets[operation] = TokenBucket(plan.rate, plan.burst)
        return self._buckets[operation]

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter ("equal jitter": half fixed, half random)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def observe(self, operation: str, headers: Mapping[str, str] | None) -> None:
        """Follow the rate Amazon says applies to this operation."""
        value = header(headers, RATE_LIMIT_HEADER)
        bucket = self.bucket(operation)
        if value is None or bucket is None:
            return
        try:
            rate = float(value)
        except ValueError:
            return
        bucket.set_rate(rate)

    async def _acquire(self, operation: str) -> None:
        bucket = self.bucket(operation)
        if bucket is None:
            return
        async with self._locks[operation]:
            while (wait := bucket.wait_time()) > 0:
                await self._sleep(wait)
            bucket.take()

    async def call(
        self,
        operation: str,
        fn: Callable[[], Awaitable[T]],
        *,
        headers_of: Callable[[T], Mapping[str, str] | None] = lambda r: getattr(r, "headers", None),
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            await self._acquire(operation)
            self.stats[operation] += 1
            try:
                result = await fn()
            except HttpFailure as failure:
                self.observe(operation, failure.headers)
                code, message, details = failure.amazon_error()
                if failure.status == 429:
                    self.stats[f"throttled:{operation}"] += 1
                    bucket = self.bucket(operation)
                    if bucket is not None:
                        bucket.drain()
                    if attempt > self.max_retries:
                        raise RateLimited(operation, attempt, message) from None
                    await self._sleep(self.backoff(attempt))
                    continue
                if failure.status >= 500:
                    self.stats[f"errors:{operation}"] += 1
                    if attempt > self.max_retries:
                        raise AmazonUnavailable(
                            operation, attempt, f"HTTP {failure.status} {code}: {message}"
                        ) from None
                    await self._sleep(self.backoff(attempt))
                    continue
                raise AmazonApiError(operation, failure.status, code, message, details) from None
            except httpx.TransportError as exc:  # timeouts, refused/reset connections, protocol errors
                self.stats[f"errors:{operation}"] += 1
                if attempt > self.max_retries:
                    raise AmazonUnavailable(
                        operation, attempt, f"{type(exc).__name__}: {exc or 'no answer in time'}"
                    ) from None
                await self._sleep(self.backoff(attempt))
                continue
            self.observe(operation, headers_of(result))
            return result
