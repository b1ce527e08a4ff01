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


class BulkOperationFailed(ShopifyError):
    """A bulk operation ended FAILED (with Shopify's `errorCode`: ACCESS_DENIED, INTERNAL_SERVER_ERROR,
    TIMEOUT), CANCELED or EXPIRED. INTERNAL_SERVER_ERROR and TIMEOUT may pass: run it again later."""

    def __init__(
        self,
        message: str,
        *,
        bulk_operation_id: str,
        status: str,
        error_code: str | None = None,
        partial_data_url: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, details={"status": status, "errorCode": error_code})
        self.bulk_operation_id = bulk_operation_id
        self.status = status
        self.error_code = error_code
        self.partial_data_url = partial_data_url
        self.transient = error_code in ("INTERNAL_SERVER_ERROR", "TIMEOUT")


class BulkOperationTimeout(ShopifyError):
    """The bulk operation (or the one ahead of it) did not finish within the client's time limit. It
    may still be running at Shopify; a later run waits for it."""

    transient = True


class BulkSnapshotInvalid(ShopifyError):
    """The bulk file had lines that could not be read (bad JSON, a level whose parent item never
    appeared…). `rows` holds what could be read, `problems` says what could not."""

    def __init__(self, message: str, *, rows: list[Any], problems: list[str], operation: str | None = None):
        super().__init__(message, operation=operation, details=problems)
        self.rows = rows
        self.problems = problems
