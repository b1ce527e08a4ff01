"""Typed errors of the Shopify client. Activities translate them into Temporal failures:
`transient` ones are retried (the same attempt, byte for byte), the others are not."""

from __future__ import annotations

from typing import Any


class ShopifyError(Exception):
    """Base of every error the Shopify client raises."""

    transient: bool = False

    def __init__(self, message: str, *, operation: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.details = details


class Throttled(ShopifyError):
    """Shopify answered THROTTLED and the client's own waits and retries are used up."""

    transient = True


class ShopifyUnavailable(ShopifyError):
    """5xx, a timeout or a connection error: the request may or may not have been executed."""

    transient = True


class IdempotencyConcurrentRequest(ShopifyError):
    """Another request with the same idempotency key is still being executed (user error
    IDEMPOTENCY_CONCURRENT_REQUEST): send the same request again a little later."""

    transient = True


class ShopifyAuthError(ShopifyError):
    """401/403: the access token is wrong, revoked or lacks a scope. Retrying will not help."""


class ShopifyQueryError(ShopifyError):
    """GraphQL errors other than THROTTLED (invalid query, missing @idempotent, input too large…),
    or an HTTP status that says the request itself is wrong (e.g. 404 for an unknown API version)."""
