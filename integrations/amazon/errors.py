"""Typed errors of the Amazon integration. Activities translate them into Temporal failures:
`AmazonApiError` (bad request, auth) is not worth retrying as is; `RateLimited` and
`AmazonUnavailable` are transient; `ReportFormatError` means Amazon changed a report's shape."""

from __future__ import annotations


class AmazonError(Exception):
    """Base of every error this package raises."""


class AmazonApiError(AmazonError):
    """Amazon answered with a 4xx (other than 429): the request itself is wrong or not allowed."""

    def __init__(self, operation: str, status: int, code: str, message: str, details: str = "") -> None:
        self.operation, self.status, self.code, self.amazon_message, self.details = (
            operation,
            status,
            code,
            message,
            details,
        )
        text = f"{operation}: HTTP {status} {code}: {message}"
        if details:
            text += f" ({details})"
        super().__init__(text)


class RateLimited(AmazonApiError):
    """Still throttled (429 QuotaExceeded) after every retry."""

    def __init__(self, operation: str, attempts: int, message: str = "") -> None:
        super().__init__(
            operation, 429, "QuotaExceeded", message or f"still throttled after {attempts} attempts"
        )
        self.attempts = attempts


class AmazonUnavailable(AmazonError):
    """5xx, timeouts or connection failures persisted through every retry."""

    def __init__(self, operation: str, attempts: int, last_error: str) -> None:
        self.operation, self.attempts, self.last_error = operation, attempts, last_error
        super().__init__(
            f"{operation}: Amazon unavailable after {attempts} attempts; last error: {last_error}"
        )


class ReportFormatError(AmazonError):
    """A report document cannot be read as the report type it claims to be."""


class MissingColumns(ReportFormatError):
    """A required column is absent from a report's header line."""

    def __init__(self, report: str, missing: list[str], found: list[str]) -> None:
        self.report, self.missing, self.found = report, missing, found
        found_text = ", ".join(repr(h) for h in found) if found else "none"
        super().__init__(
            f"{report}: missing required column(s) {', '.join(repr(m) for m in missing)}; "
            f"headers found: {found_text}"
        )
