"""The flat-file parsers of the slow streams: returns, removal detail, removal shipments, reimbursements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from integrations.amazon.errors import MissingColumns, ReportFormatError
from integrations.amazon.flat_reports import (
    REIMBURSEMENTS_REPORT,
    REMOVAL_DETAIL_REPORT,
    REMOVAL_SHIPMENT_REPORT,
    RETURNS_REPORT,
    parse_datetime,
    parse_reimbursements_report,
    parse_removal_detail_report,
    parse_removal_shipment_report,
    parse_returns_report,
)


def tsv(*lines: list[str]) -> str:
    return "\n".join("\t".join(line) for line in lines) + "\n"


RETURNS_HEADER = [
    "return-date",
    "order-id",
    "sku",
    "asin",
    "fnsku",
    "product-name",
    "quantity",
    "fulfillment-center-id",
    "detailed-disposition",
    "reason",
    "status",
    "license-plate-number",
    "customer-comments",
]


def return_line(**overrides: str) -> list[str]:
    values = {
        "return-date": "2026-10-05T08:12:00+00:00",
        "order-id": "113-1000001-0000001",
        "sku": "TEE-M",
        "asin": "B0TEEM0001",
        "fnsku": "X00TEEM001",
        "product-name": 'Tee 12" Classic',
        "quantity": "1",
        "fulfillment-center-id": "PHX7",
        "detailed-disposition": "SELLABLE",
        "reason": "UNWANTED_ITEM",
        "status": "Unit returned to inventory",
        "license-plate-number": "LPNRR0000001",
        "customer-comments": "",
    } | overrides
    return [values[h] for h in RETURNS_HEADER]


# --- dates and values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05T08:12:00+00:00", datetime(2026, 10, 5, 8, 12, tzinfo=UTC)),
        ("2026-10-05T01:12:00-07:00", datetime(2026, 10, 5, 8, 12, tzinfo=UTC)),
        ("2026-10-05T08:12:00Z", datetime(2026, 10, 5, 8, 12, tzinfo=UTC)),
        ("2026-10-05T08:12:00", datetime(2026, 10, 5, 8, 12, tzinfo=UTC)),
        ("2026-10-05 01:12:00 PDT", datetime(2026, 10, 5, 8, 12, tzinfo=UTC)),
        ("10/05/2026", datetime(2026, 10, 5, tzinfo=UTC)),
        ("2026-10-05", datetime(2026, 10, 5, tzinfo=UTC)),
    ],
)
def test_dates_in_amazons_formats(text, expected):
    moment = parse_datetime(text)
    assert moment == expected and moment.tzinfo is not None


def test_offsets_are_kept():
    assert parse_datetime("2026-10-05T10:12:00+02:00").utcoffset() == timedelta(hours=2)
    assert parse_datetime("2026-10-05T10:12:00+02:00").tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize("text", ["", "yesterday", "13/45/2026", "2026-13-01"])
def test_unreadable_dates_raise(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


# --- customer returns ----------------------------------------------------------------------------


def test_returns_rows_by_header_name():
    rows, issues = parse_returns_report(tsv(RETURNS_HEADER, return_line(), return_line(**{"quantity": "2"})))
    assert issues == []
    first = rows[0]
    assert first.return_date == datetime(2026, 10, 5, 8, 12, tzinfo=UTC)
    assert (first.order_id, first.msku, first.asin, first.fnsku, first.quantity) == (
        "113-1000001-0000001",
        "TEE-M",
        "B0TEEM0001",
        "X00TEEM001",
        1,
    )
    assert (first.fulfillment_center, first.detailed_disposition, first.reason, first.status) == (
        "PHX7",
        "SELLABLE",
        "UNWANTED_ITEM",
        "Unit returned to inventory",
    )
    assert first.license_plate_number == "LPNRR0000001" and first.line_no == 2
    assert rows[1].quantity == 2 and rows[1].line_no == 3


def test_returns_headers_are_normalised_reordered_and_aliased():
    header = ["Amazon Order ID", "SKU", "Detailed_Disposition", "Quantity", "Return Date", "Some New Column"]
    text = tsv(header, ["113-2", "MUG", "DAMAGED", "1", "10/05/2026", "x"])
    rows, issues = parse_returns_report("\ufeff" + text.replace("\n", "\r\n"))
    assert issues == []
    assert [(r.order_id, r.msku, r.detailed_disposition, r.quantity) for r in rows] == [
        ("113-2", "MUG", "DAMAGED", 1)
    ]
    assert rows[0].return_date == datetime(2026, 10, 5, tzinfo=UTC)
    assert rows[0].license_plate_number == ""  # optional column absent


def test_returns_quoted_fields_lose_their_quotes():
    line = [f'"{v}"' for v in return_line()]
    rows, issues = parse_returns_report(tsv([f'"{h}"' for h in RETURNS_HEADER], line))
    assert issues == [] and rows[0].order_id == "113-1000001-0000001" and rows[0].msku == "TEE-M"


def test_returns_missing_columns_name_what_is_missing_and_found():
    header = [h for h in RETURNS_HEADER if h not in ("order-id", "detailed-disposition")]
    with pytest.raises(MissingColumns) as info:
        parse_returns_report(tsv(header))
    assert info.value.report == RETURNS_REPORT
    assert info.value.missing == ["order-id", "detailed-disposition"]
    assert "return-date" in info.value.found
    assert "order-id" in str(info.value) and "headers found" in str(info.value)
    assert isinstance(info.value, ReportFormatError)
    with pytest.raises(MissingColumns):
        parse_returns_report("")


def test_returns_bad_lines_become_issues_and_the_rest_is_read():
    text = tsv(
        RETURNS_HEADER,
        return_line(),
        return_line(**{"return-date": "someday"}),
        return_line(**{"quantity": "one"}),
        return_line()[:-3],
        [],
        return_line(**{"sku": ""}),
        return_line(**{"quantity": "1.5"}),
        return_line(**{"license-plate-number": "LPNRR0000009"}),
    )
    rows, issues = parse_returns_report(text)
    assert [r.line_no for r in rows] == [2, 9]
    assert [i.line_no for i in issues] == [3, 4, 5, 6, 7, 8]
    assert all(i.report == RETURNS_REPORT for i in issues)
    messages = [i.message for i in issues]
    assert "return-date" in messages[0] and "someday" in messages[0]
    assert "quantity" in messages[1]
    assert "expected 13 fields" in messages[2]
    assert messages[3] == "blank line"
    assert "'sku': empty value" in messages[4]
    assert "1.5" in messages[5]
    assert issues[0].raw == "\t".join(return_line(**{"return-date": "someday"}))


def test_returns_empty_quantity_is_zero():
    rows, issues = parse_returns_report(tsv(RETURNS_HEADER, return_line(quantity="")))
    assert issues == [] and rows[0].quantity == 0


# --- removal order detail ------------------------------------------------------------------------

DETAIL_HEADER = [
    "request-date",
    "order-id",
    "order-type",
    "service-speed",
    "order-status",
    "last-updated-date",
    "sku",
    "fnsku",
    "disposition",
    "requested-quantity",
    "cancelled-quantity",
    "disposed-quantity",
    "shipped-quantity",
    "in-process-quantity",
    "removal-fee",
    "currency",
]


def test_removal_detail_rows_and_empty_quantities():
    text = tsv(
        DETAIL_HEADER,
        [
            "2026-10-01T02:24:00+00:00",
            "RMV-0001",
            "Return",
            "Standard",
            "In Process",
            "2026-10-02T00:00:00+00:00",
            "BAG-BLK",
            "X00BAGBLK1",
            "Sellable",
            "6",
            "",
            "",
            "2",
            "4",
            "1.94",
            "USD",
        ],
        [
            "10/01/2026",
            "RMV-0002",
            "Disposal",
            "Standard",
            "Pending",
            "",
            "BAG-BLK",
            "X00BAGBLK1",
            "Unsellable",
            "4",
            "0",
            "0",
            "0",
            "",
            "",
            "USD",
        ],
    )
    rows, issues = parse_removal_detail_report(text)
    assert issues == []
    first, second = rows
    assert (first.order_id, first.order_type, first.order_status, first.msku, first.disposition) == (
        "RMV-0001",
        "Return",
        "In Process",
        "BAG-BLK",
        "Sellable",
    )
    assert (
        first.requested_quantity,
        first.cancelled_quantity,
        first.disposed_quantity,
        first.shipped_quantity,
        first.in_process_quantity,
    ) == (6, 0, 0, 2, 4)
    assert first.last_updated == datetime(2026, 10, 2, tzinfo=UTC)
    assert second.last_updated is None and second.in_process_quantity == 0
    assert second.request_date == datetime(2026, 10, 1, tzinfo=UTC)


def test_removal_detail_aliases_missing_columns_and_bad_lines():
    header = ["Request Date", "Removal Order ID", "Order Type", "Order Status", "SKU"]
    header += ["Requested Quantity", "Canceled Quantity", "Disposed Quantity", "Shipped Quantity"]
    text = tsv(
        header,
        ["2026-10-01", "RMV-1", "Return", "Completed", "MUG", "2", "0", "0", "2"],
        ["2026-10-01", "RMV-2", "Return", "Completed", "MUG", "2", "x", "0", "2"],
    )
    rows, issues = parse_removal_detail_report(text)
    assert [(r.order_id, r.shipped_quantity) for r in rows] == [("RMV-1", 2)]
    assert [(i.line_no, i.report) for i in issues] == [(3, REMOVAL_DETAIL_REPORT)]
    assert "cancelled-quantity" in issues[0].message
    with pytest.raises(MissingColumns) as info:
        parse_removal_detail_report(tsv([h for h in header if h != "Shipped Quantity"]))
    assert info.value.missing == ["shipped-quantity"]


# --- removal shipments ---------------------------------------------------------------------------

SHIPMENT_HEADER = [
    "request-date",
    "order-id",
    "shipment-date",
    "sku",
    "fnsku",
    "disposition",
    "shipped-quantity",
    "carrier",
    "tracking-number",
    "removal-order-type",
]


def test_removal_shipment_rows_aliases_and_issues():
    good = [
        "2026-10-01T02:24:00+00:00",
        "RMV-0001",
        "2026-10-02T00:00:00+00:00",
        "BAG-BLK",
        "X00BAGBLK1",
        "SELLABLE",
        "6",
        "UPS",
        "1Z999AA10123456784",
        "Return",
    ]
    bad = list(good)
    bad[2] = ""
    rows, issues = parse_removal_shipment_report(tsv(SHIPMENT_HEADER, good, bad))
    assert [(r.order_id, r.msku, r.shipped_quantity, r.carrier, r.tracking_number) for r in rows] == [
        ("RMV-0001", "BAG-BLK", 6, "UPS", "1Z999AA10123456784")
    ]
    assert rows[0].shipment_date == datetime(2026, 10, 2, tzinfo=UTC)
    assert rows[0].request_date == datetime(2026, 10, 1, 2, 24, tzinfo=UTC)
    assert rows[0].removal_order_type == "Return" and rows[0].disposition == "SELLABLE"
    assert [(i.line_no, i.report) for i in issues] == [(3, REMOVAL_SHIPMENT_REPORT)]
    assert "shipment-date" in issues[0].message

    aliased = tsv(
        ["Order ID", "Ship Date", "MSKU", "Quantity Shipped", "Tracking ID"],
        ["R", "2026-10-02", "M", "", "T"],
    )
    rows, issues = parse_removal_shipment_report(aliased)
    assert issues == [] and [(r.order_id, r.msku, r.shipped_quantity, r.tracking_number) for r in rows] == [
        ("R", "M", 0, "T")
    ]
    assert rows[0].request_date is None
    with pytest.raises(MissingColumns) as info:
        parse_removal_shipment_report(tsv(["order-id", "sku", "shipped-quantity"]))
    assert info.value.missing == ["shipment-date"]


# --- reimbursements ------------------------------------------------------------------------------

REIMBURSEMENTS_HEADER = [
    "approval-date",
    "reimbursement-id",
    "case-id",
    "amazon-order-id",
    "reason",
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "currency-unit",
    "amount-per-unit",
    "amount-total",
    "quantity-reimbursed-cash",
    "quantity-reimbursed-inventory",
    "quantity-reimbursed-total",
    "original-reimbursement-id",
    "original-reimbursement-type",
]


def reimbursement_line(**overrides: str) -> list[str]:
    values = {
        "approval-date": "2026-10-20T00:00:00+00:00",
        "reimbursement-id": "R-1",
        "case-id": "",
        "amazon-order-id": "",
        "reason": "Lost_Warehouse",
        "sku": "LAMP-01",
        "fnsku": "X00LAMP001",
        "asin": "B0LAMP0001",
        "product-name": "Lamp",
        "condition": "New",
        "currency-unit": "USD",
        "amount-per-unit": "12.50",
        "amount-total": "25.00",
        "quantity-reimbursed-cash": "2",
        "quantity-reimbursed-inventory": "1",
        "quantity-reimbursed-total": "3",
        "original-reimbursement-id": "",
        "original-reimbursement-type": "",
    } | overrides
    return [values[h] for h in REIMBURSEMENTS_HEADER]


def test_reimbursement_rows_reversals_and_empty_amounts():
    reversal = reimbursement_line(
        **{
            "reimbursement-id": "R-2",
            "reason": "Reimbursement_Reversal",
            "amount-per-unit": "",
            "amount-total": "-1,250.00",
            "quantity-reimbursed-cash": "-2",
            "quantity-reimbursed-inventory": "",
            "quantity-reimbursed-total": "-2",
            "original-reimbursement-id": "R-1",
            "original-reimbursement-type": "Lost_Warehouse",
        }
    )
    rows, issues = parse_reimbursements_report(tsv(REIMBURSEMENTS_HEADER, reimbursement_line(), reversal))
    assert issues == []
    first, second = rows
    assert (first.reimbursement_id, first.reason, first.msku, first.fnsku, first.currency) == (
        "R-1",
        "Lost_Warehouse",
        "LAMP-01",
        "X00LAMP001",
        "USD",
    )
    assert (first.amount_per_unit, first.amount_total) == (12.5, 25.0)
    assert (first.quantity_cash, first.quantity_inventory, first.quantity_total) == (2, 1, 3)
    assert first.approval_date == datetime(2026, 10, 20, tzinfo=UTC)
    assert (second.quantity_cash, second.quantity_inventory, second.quantity_total) == (-2, 0, -2)
    assert (second.amount_per_unit, second.amount_total) == (None, -1250.0)
    assert (second.original_reimbursement_id, second.original_reimbursement_type) == ("R-1", "Lost_Warehouse")


def test_reimbursements_alias_missing_column_and_issues():
    header = ["Approval Date", "Reimbursement ID", "Order ID", "Reason", "SKU"]
    header += ["Quantity Reimbursed Cash", "Quantity Reimbursed Inventory", "Amount Total"]
    text = tsv(
        header,
        ["2026-10-20", "R-1", "113-1", "CustomerReturn", "TEE-M", "1", "0", "9.99"],
        ["2026-10-20", "", "113-1", "CustomerReturn", "TEE-M", "1", "0", "9.99"],
        ["2026-10-20", "R-3", "113-1", "CustomerReturn", "TEE-M", "1", "0", "lots"],
    )
    rows, issues = parse_reimbursements_report(text)
    assert [(r.reimbursement_id, r.amazon_order_id, r.amount_total) for r in rows] == [("R-1", "113-1", 9.99)]
    assert rows[0].quantity_total == 1  # no total column: cash + inventory
    assert [(i.line_no, i.report) for i in issues] == [(3, REIMBURSEMENTS_REPORT), (4, REIMBURSEMENTS_REPORT)]
    assert "reimbursement-id" in issues[0].message and "amount-total" in issues[1].message
    with pytest.raises(MissingColumns) as info:
        parse_reimbursements_report(tsv([h for h in header if h != "Quantity Reimbursed Cash"]))
    assert info.value.missing == ["quantity-reimbursed-cash"] and info.value.report == REIMBURSEMENTS_REPORT
