"""GET_LEDGER_DETAIL_VIEW_DATA: the FBA inventory ledger, one row per movement.

Tab-separated; Amazon quotes every field and does not escape quotes inside titles, so a line is
split on the tab-quote boundaries, never with CSV doubled-quote rules. Columns are found by their
normalised header name (contracts/sp-api/REPORTS.md). A missing required column is fatal
(`MissingColumns`); a line that cannot be read becomes a `ParseIssue` with its line number, and
the rest of the report is still read.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from integrations.amazon.errors import MissingColumns
from reconciler.models import LedgerParseResult, LedgerRow, ParseIssue

REPORT_TYPE = "GET_LEDGER_DETAIL_VIEW_DATA"

# model field -> (display name, accepted normalised header spellings)
REQUIRED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "date": ("Date", ("date",)),
    "fnsku": ("FNSKU", ("fnsku",)),
    "msku": ("MSKU", ("msku", "sku", "sellersku", "merchantsku")),
    "event_type": ("Event Type", ("eventtype",)),
    "quantity": ("Quantity", ("quantity",)),
    "disposition": ("Disposition", ("disposition",)),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "asin": ("ASIN", ("asin",)),
    "title": ("Title", ("title", "productname")),
    "reference_id": ("Reference ID", ("referenceid",)),
    "fulfillment_center": (
        "Fulfillment Center",
        ("fulfillmentcenter", "fulfillmentcenterid", "fulfilmentcentre"),
    ),
    "reason": ("Reason", ("reason",)),
    "country": ("Country", ("country",)),
    # The download's exact time of the movement: when a reconciliation's snapshot was taken the same
    # day, it tells whether the snapshot already counted the row (see reconciler/absorption.py).
    "occurred_at": ("Date and Time", ("dateandtime", "datetime", "eventdatetime")),
}
# Required fields whose value may not be empty on a row.
NON_EMPTY = ("fnsku", "msku", "event_type", "disposition")

_NORMALISE = re.compile(r"[\s\-_]+")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[T ].*)?$")


def normalise_header(name: str) -> str:
    return _NORMALISE.sub("", name.strip().strip('"').lstrip("\ufeff").strip()).lower()


def split_line(line: str, expected: int | None = None) -> list[str]:
    """Fields of one line. Every field quoted: split on `"<TAB>"` so quotes inside a title survive.
    Otherwise (or when that does not give the expected count) split on tabs and drop one pair of
    surrounding quotes per field."""
    if len(line) >= 2 and line.startswith('"') and line.endswith('"'):
        fields = line[1:-1].split('"\t"')
        if expected is None or len(fields) == expected:
            return fields
    return [f[1:-1] if len(f) >= 2 and f.startswith('"') and f.endswith('"') else f for f in line.split("\t")]


def parse_date(value: str) -> date:
    """MM/DD/YYYY, YYYY-MM-DD, or an ISO datetime (the date as printed is taken)."""
    text = value.strip()
    if m := _ISO_DATE.match(text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := _US_DATE.match(text):
        return date(int(m[3]), int(m[1]), int(m[2]))
    raise ValueError(value)


def parse_datetime(value: str) -> datetime | None:
    """An ISO datetime (with or without offset; a naive one is marketplace-local), or None when the
    optional column is empty or unreadable: the row still counts, dated by its `Date`."""
    text = value.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        return None


def parse_quantity(value: str) -> int:
    return int(value.strip().replace(",", ""))


def parse_ledger_report(text: str) -> LedgerParseResult:
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # the trailing newline(s) of the document
        lines.pop()
    if not lines:
        raise MissingColumns(REPORT_TYPE, [name for name, _ in REQUIRED_COLUMNS.values()], [])

    headers = [h.strip() for h in split_line(lines[0].rstrip("\r").lstrip("\ufeff"))]
    headers = [h.strip('"').strip() for h in headers]
    index_of: dict[str, int] = {}
    for position, header in enumerate(headers):
        index_of.setdefault(normalise_header(header), position)

    columns: dict[str, int] = {}
    missing: list[str] = []
    for field, (display, spellings) in {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}.items():
        position = next((index_of[s] for s in spellings if s in index_of), None)
        if position is not None:
            columns[field] = position
        elif field in REQUIRED_COLUMNS:
            missing.append(display)
    if missing:
        raise MissingColumns(REPORT_TYPE, missing, headers)

    display_names = {field: spec[0] for field, spec in {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}.items()}
    result = LedgerParseResult()
    for line_no, raw_line in enumerate(lines[1:], start=2):
        line = raw_line.rstrip("\r")
        if not line.strip():
            result.issues.append(ParseIssue(line_no=line_no, message="blank line", raw=raw_line))
            continue
        fields = split_line(line, len(headers))
        if len(fields) != len(headers):
            result.issues.append(
                ParseIssue(
                    line_no=line_no,
                    message=f"expected {len(headers)} fields as in the header, found {len(fields)}",
                    raw=raw_line,
                )
            )
            continue
        values = {field: fields[position] for field, position in columns.items()}
        problem = None
        try:
            row_date = parse_date(values["date"])
        except ValueError:
            problem = f"column 'Date': cannot read {values['date']!r} as a date (MM/DD/YYYY or YYYY-MM-DD)"
        try:
            quantity = parse_quantity(values["quantity"])
        except ValueError:
            problem = problem or f"column 'Quantity': cannot read {values['quantity']!r} as a whole number"
        for field in NON_EMPTY:
            if problem is None and not values[field].strip():
                problem = f"column {display_names[field]!r}: empty value"
        if problem is not None:
            result.issues.append(ParseIssue(line_no=line_no, message=problem, raw=raw_line))
            continue
        result.rows.append(
            LedgerRow(
                date=row_date,
                quantity=quantity,
                line_no=line_no,
                **{
                    field: values[field].strip() if field != "title" else values[field]
                    for field in columns
                    if field not in ("date", "quantity", "occurred_at")
                },
                occurred_at=parse_datetime(values["occurred_at"]) if "occurred_at" in values else None,
            )
        )
    return result
