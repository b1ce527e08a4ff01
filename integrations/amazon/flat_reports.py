"""The FBA flat-file reports of the slow streams: customer returns, removal order detail, removal
shipments and reimbursements; and the current inventory snapshot of full reconciliation,
GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA (contracts/sp-api/REPORTS.md).

Tab-separated text with one header line. Amazon usually leaves these fields unquoted; a quoted
field loses one pair of surrounding quotes. Columns are found by their normalised header name
(`ledger_report.normalise_header`), with the alternative spellings Amazon's own documents use
(`order-id` / `amazon-order-id`, ...); unknown columns are ignored. A missing required column is
fatal (`MissingColumns`, naming what is missing and what was found). A line that cannot be read
becomes a `FlatFileIssue` with its line number: never dropped silently, never fatal.

Values: dates are ISO 8601 date-times with an offset (Amazon's format for these reports, e.g.
`2026-10-05T08:12:00+00:00`), also `Z`, a trailing zone name such as `UTC`/`PDT`, or a bare date
(`MM/DD/YYYY`, `YYYY-MM-DD`, read as midnight UTC); a date-time without an offset is read as UTC.
Empty quantities are 0; empty amounts are `None`. Thousands separators (`1,234`) are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from integrations.amazon.errors import MissingColumns
from integrations.amazon.ledger_report import normalise_header, split_line
from integrations.amazon.snapshot import InventorySnapshotRow
from reconciler.models import (
    FlatFileIssue,
    ReimbursementRow,
    RemovalDetailRow,
    RemovalShipmentRow,
    ReturnRow,
)

RETURNS_REPORT = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
REMOVAL_DETAIL_REPORT = "GET_FBA_FULFILLMENT_REMOVAL_ORDER_DETAIL_DATA"
REMOVAL_SHIPMENT_REPORT = "GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA"
REIMBURSEMENTS_REPORT = "GET_FBA_REIMBURSEMENTS_DATA"
INVENTORY_REPORT = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"

M = TypeVar("M", bound=BaseModel)

TEXT, INT, AMOUNT, DATETIME, OPTIONAL_DATETIME = "text", "int", "amount", "datetime", "datetime?"


@dataclass(frozen=True)
class Column:
    field: str  # the model field
    display: str  # Amazon's header, for messages
    spellings: tuple[str, ...]  # accepted normalised headers
    kind: str = TEXT
    required: bool = False  # the column must be in the header
    non_empty: bool = False  # the value may not be empty on a row


def _col(
    field: str, display: str, *aliases: str, kind: str = TEXT, required: bool = False, non_empty: bool = False
):
    return Column(field, display, (normalise_header(display), *aliases), kind, required, non_empty)


_SKU = ("msku", "sellersku", "merchantsku")
_ORDER_ID = ("amazonorderid", "orderid")

RETURNS_COLUMNS: tuple[Column, ...] = (
    _col("return_date", "return-date", kind=DATETIME, required=True),
    _col("order_id", "order-id", *_ORDER_ID, required=True, non_empty=True),
    _col("msku", "sku", *_SKU, required=True, non_empty=True),
    _col("asin", "asin"),
    _col("fnsku", "fnsku"),
    _col("quantity", "quantity", "quantityreturned", kind=INT, required=True),
    _col("fulfillment_center", "fulfillment-center-id", "fulfillmentcenter", "fulfilmentcentre"),
    _col("detailed_disposition", "detailed-disposition", "disposition", required=True, non_empty=True),
    _col("reason", "reason", "returnreason"),
    _col("status", "status"),
    _col("license_plate_number", "license-plate-number", "lpn"),
)

REMOVAL_DETAIL_COLUMNS: tuple[Column, ...] = (
    _col("request_date", "request-date", kind=DATETIME, required=True),
    _col("order_id", "order-id", "removalorderid", *_ORDER_ID, required=True, non_empty=True),
    _col("order_type", "order-type", "removalordertype", required=True),
    _col("order_status", "order-status", required=True),
    _col("last_updated", "last-updated-date", "lastupdated", kind=OPTIONAL_DATETIME),
    _col("msku", "sku", *_SKU, required=True, non_empty=True),
    _col("fnsku", "fnsku"),
    _col("disposition", "disposition"),
    _col("requested_quantity", "requested-quantity", kind=INT, required=True),
    _col("cancelled_quantity", "cancelled-quantity", "canceledquantity", kind=INT, required=True),
    _col("disposed_quantity", "disposed-quantity", kind=INT, required=True),
    _col("shipped_quantity", "shipped-quantity", kind=INT, required=True),
    _col("in_process_quantity", "in-process-quantity", "inprogressquantity", kind=INT),
)

REMOVAL_SHIPMENT_COLUMNS: tuple[Column, ...] = (
    _col("request_date", "request-date", kind=OPTIONAL_DATETIME),
    _col("order_id", "order-id", "removalorderid", *_ORDER_ID, required=True, non_empty=True),
    _col("shipment_date", "shipment-date", "shipdate", kind=DATETIME, required=True),
    _col("msku", "sku", *_SKU, required=True, non_empty=True),
    _col("fnsku", "fnsku"),
    _col("disposition", "disposition"),
    _col("shipped_quantity", "shipped-quantity", "quantityshipped", "quantity", kind=INT, required=True),
    _col("carrier", "carrier"),
    _col("tracking_number", "tracking-number", "trackingid"),
    _col("removal_order_type", "removal-order-type", "ordertype"),
)

REIMBURSEMENTS_COLUMNS: tuple[Column, ...] = (
    _col("approval_date", "approval-date", kind=DATETIME, required=True),
    _col("reimbursement_id", "reimbursement-id", required=True, non_empty=True),
    _col("case_id", "case-id"),
    _col("amazon_order_id", "amazon-order-id", "orderid"),
    _col("reason", "reason", required=True, non_empty=True),
    _col("msku", "sku", *_SKU, required=True),
    _col("fnsku", "fnsku"),
    _col("asin", "asin"),
    _col("condition", "condition"),
    _col("currency", "currency-unit", "currency", "currencycode"),
    _col("amount_per_unit", "amount-per-unit", kind=AMOUNT),
    _col("amount_total", "amount-total", kind=AMOUNT),
    _col("quantity_cash", "quantity-reimbursed-cash", kind=INT, required=True),
    _col("quantity_inventory", "quantity-reimbursed-inventory", kind=INT, required=True),
    _col("quantity_total", "quantity-reimbursed-total", kind=INT),
    _col("original_reimbursement_id", "original-reimbursement-id"),
    _col("original_reimbursement_type", "original-reimbursement-type"),
)

INVENTORY_COLUMNS: tuple[Column, ...] = (
    _col("msku", "sku", *_SKU, required=True, non_empty=True),
    _col("fnsku", "fnsku"),
    _col("asin", "asin"),
    _col("fulfillable", "afn-fulfillable-quantity", kind=INT, required=True),
    _col("unsellable", "afn-unsellable-quantity", kind=INT, required=True),
    _col("reserved", "afn-reserved-quantity", kind=INT, required=True),
    _col("inbound_working", "afn-inbound-working-quantity", kind=INT),
    _col("inbound_shipped", "afn-inbound-shipped-quantity", kind=INT),
    _col("inbound_receiving", "afn-inbound-receiving-quantity", kind=INT),
    _col("researching", "afn-researching-quantity", kind=INT),
)

_ISO_DATE_ONLY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_ZONE_NAME = re.compile(r"^(.*\d)\s*([A-Z]{3,4})$")
# the zone abbreviations Amazon prints in older flat files
_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "CST": -6,
    "CDT": -5,
    "EST": -5,
    "EDT": -4,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "JST": 9,
}


def parse_datetime(value: str) -> datetime:
    """An aware datetime from ISO 8601 (with or without offset; none = UTC), a trailing zone name,
    or a bare MM/DD/YYYY / YYYY-MM-DD date (midnight UTC). Raises ValueError."""
    text = value.strip()
    if not text:
        raise ValueError("empty")
    offset: timezone | None = None
    if (m := _ZONE_NAME.match(text)) and m[2] in _ZONES:
        text, offset = m[1].strip(), timezone(timedelta(hours=_ZONES[m[2]]))
    if m := _ISO_DATE_ONLY.match(text):
        moment = datetime(int(m[1]), int(m[2]), int(m[3]))
    elif m := _US_DATE.match(text):
        moment = datetime(int(m[3]), int(m[1]), int(m[2]), int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=offset or UTC)
    return moment


def parse_int(value: str) -> int:
    """A whole number; empty = 0. `3.0` is accepted, `3.5` is not."""
    text = value.strip().replace(",", "")
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


def parse_amount(value: str) -> float | None:
    text = value.strip().replace(",", "")
    return float(text) if text else None


_CONVERTERS: dict[str, tuple[Callable[[str], Any], str]] = {
    INT: (parse_int, "a whole number"),
    AMOUNT: (parse_amount, "an amount"),
    DATETIME: (parse_datetime, "a date (ISO 8601, MM/DD/YYYY or YYYY-MM-DD)"),
    OPTIONAL_DATETIME: (
        lambda v: parse_datetime(v) if v.strip() else None,
        "a date (ISO 8601, MM/DD/YYYY or YYYY-MM-DD)",
    ),
}


def _header_columns(report: str, header_line: str, columns: tuple[Column, ...]) -> tuple[int, dict[str, int]]:
    headers = [h.strip().strip('"').strip() for h in split_line(header_line.lstrip("\ufeff"))]
    index_of: dict[str, int] = {}
    for position, header in enumerate(headers):
        index_of.setdefault(normalise_header(header), position)
    found: dict[str, int] = {}
    missing: list[str] = []
    for column in columns:
        position = next((index_of[s] for s in column.spellings if s in index_of), None)
        if position is not None:
            found[column.field] = position
        elif column.required:
            missing.append(column.display)
    if missing:
        raise MissingColumns(report, missing, headers)
    return len(headers), found


def parse_flat_report(
    text: str, report: str, columns: tuple[Column, ...]
) -> tuple[list[dict[str, Any]], list[FlatFileIssue]]:
    """Rows as {field: typed value, "line_no": n} for the columns present, and the issues."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # the trailing newline(s) of the document
        lines.pop()
    if not lines:
        raise MissingColumns(report, [c.display for c in columns if c.required], [])
    width, positions = _header_columns(report, lines[0].rstrip("\r"), columns)
    by_field = {c.field: c for c in columns}

    rows: list[dict[str, Any]] = []
    issues: list[FlatFileIssue] = []
    for line_no, raw_line in enumerate(lines[1:], start=2):

        def issue(message: str, line_no: int = line_no, raw: str = raw_line) -> None:
            issues.append(FlatFileIssue(report=report, line_no=line_no, message=message, raw=raw))

        line = raw_line.rstrip("\r")
        if not line.strip():
            issue("blank line")
            continue
        fields = split_line(line, width)
        if len(fields) != width:
            issue(f"expected {width} fields as in the header, found {len(fields)}")
            continue
        values: dict[str, Any] = {"line_no": line_no}
        problem = None
        for field, position in positions.items():
            column = by_field[field]
            raw_value = fields[position].strip()
            if column.non_empty and not raw_value:
                problem = f"column {column.display!r}: empty value"
                break
            converter = _CONVERTERS.get(column.kind)
            if converter is None:
                values[field] = raw_value
                continue
            convert, expected = converter
            try:
                values[field] = convert(raw_value)
            except ValueError:
                problem = f"column {column.display!r}: cannot read {raw_value!r} as {expected}"
                break
        if problem is not None:
            issue(problem)
            continue
        rows.append(values)
    return rows, issues


def _models(
    text: str,
    report: str,
    columns: tuple[Column, ...],
    model: type[M],
    complete: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[M], list[FlatFileIssue]]:
    values, issues = parse_flat_report(text, report, columns)
    rows: list[M] = []
    raw_lines = text.split("\n")
    for entry in values:
        if complete is not None:
            complete(entry)
        try:
            rows.append(model(**entry))
        except ValidationError as exc:
            line_no = entry["line_no"]
            first = exc.errors()[0]
            issues.append(
                FlatFileIssue(
                    report=report,
                    line_no=line_no,
                    message=f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                    raw=raw_lines[line_no - 1],
                )
            )
    issues.sort(key=lambda i: i.line_no)
    return rows, issues


def parse_returns_report(text: str) -> tuple[list[ReturnRow], list[FlatFileIssue]]:
    """GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA. Identity: order id + license plate + sku."""
    return _models(text, RETURNS_REPORT, RETURNS_COLUMNS, ReturnRow)


def parse_removal_detail_report(text: str) -> tuple[list[RemovalDetailRow], list[FlatFileIssue]]:
    """GET_FBA_FULFILLMENT_REMOVAL_ORDER_DETAIL_DATA: each order line's cumulative state (a state
    stream: upsert by order id + sku, act on the growth of the quantities)."""
    return _models(text, REMOVAL_DETAIL_REPORT, REMOVAL_DETAIL_COLUMNS, RemovalDetailRow)


def parse_removal_shipment_report(text: str) -> tuple[list[RemovalShipmentRow], list[FlatFileIssue]]:
    """GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA. Identity: order id + sku + tracking number."""
    return _models(text, REMOVAL_SHIPMENT_REPORT, REMOVAL_SHIPMENT_COLUMNS, RemovalShipmentRow)


def parse_reimbursements_report(text: str) -> tuple[list[ReimbursementRow], list[FlatFileIssue]]:
    """GET_FBA_REIMBURSEMENTS_DATA. Identity: reimbursement id + sku. Reversals carry negative
    quantities and point back through `original_reimbursement_id`."""
    return _models(text, REIMBURSEMENTS_REPORT, REIMBURSEMENTS_COLUMNS, ReimbursementRow, _total_quantity)


def parse_inventory_report(text: str) -> tuple[list[InventorySnapshotRow], list[FlatFileIssue]]:
    """GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA: one row per MSKU with Amazon's current quantities.
    An MSKU on two lines is an issue on the second (a snapshot has one line per MSKU)."""
    rows, issues = _models(text, INVENTORY_REPORT, INVENTORY_COLUMNS, InventorySnapshotRow)
    seen: dict[str, int] = {}
    unique: list[InventorySnapshotRow] = []
    raw_lines = text.split("\n")
    for row in rows:
        if row.msku in seen:
            issues.append(
                FlatFileIssue(
                    report=INVENTORY_REPORT,
                    line_no=row.line_no,
                    message=f"MSKU {row.msku!r} again (first on line {seen[row.msku]})",
                    raw=raw_lines[row.line_no - 1],
                )
            )
            continue
        seen[row.msku] = row.line_no
        unique.append(row)
    issues.sort(key=lambda i: i.line_no)
    return unique, issues


def _total_quantity(entry: dict[str, Any]) -> None:
    """Without a quantity-reimbursed-total column, the total is cash + inventory."""
    entry.setdefault("quantity_total", entry["quantity_cash"] + entry["quantity_inventory"])
