"""GET_LEDGER_DETAIL_VIEW_DATA parsing: Amazon's quoting, header spellings, bad lines."""

from __future__ import annotations

from datetime import date

import pytest

from integrations.amazon.errors import MissingColumns, ReportFormatError
from integrations.amazon.ledger_report import parse_ledger_report

HEADER = [
    "Date", "FNSKU", "ASIN", "MSKU", "Title", "Event Type", "Reference ID", "Quantity", "Fulfillment Center",
    "Disposition", "Reason", "Country", "Reconciled Quantity", "Unreconciled Quantity", "Date and Time",
]  # fmt: skip


def line(values: list[object]) -> str:
    return "\t".join(f'"{v}"' for v in values)


def row(**overrides: object) -> list[object]:
    values: dict[str, object] = {
        "Date": "10/01/2026", "FNSKU": "X00MUGRED1", "ASIN": "B0MUGRED01", "MSKU": "MUG-RED",
        "Title": "Mug, Red", "Event Type": "Shipments", "Reference ID": "113-0000001-0000001", "Quantity": "-2",
        "Fulfillment Center": "PHX7", "Disposition": "SELLABLE", "Reason": "", "Country": "US",
        "Reconciled Quantity": "0", "Unreconciled Quantity": "0", "Date and Time": "2026-10-01T05:00:00-07:00",
    }  # fmt: skip
    values.update({k.replace("_", " "): v for k, v in overrides.items()})
    return [values[h] for h in HEADER]


def document(*rows: list[object], header: list[str] = HEADER) -> str:
    return "\n".join([line(header), *(line(r) for r in rows)]) + "\n"


def test_unescaped_quotes_inside_titles_are_kept():
    text = document(row(Title='Mug 12" Red, "Classic" edition'), row(Title='"Quoted" start'))
    result = parse_ledger_report(text)
    assert result.issues == []
    assert [r.title for r in result.rows] == ['Mug 12" Red, "Classic" edition', '"Quoted" start']
    assert result.rows[0].msku == "MUG-RED" and result.rows[0].quantity == -2


def test_fields_and_identity_are_read():
    result = parse_ledger_report(document(row()))
    (r,) = result.rows
    assert (r.date, r.fnsku, r.asin, r.msku, r.event_type, r.reference_id) == (
        date(2026, 10, 1), "X00MUGRED1", "B0MUGRED01", "MUG-RED", "Shipments", "113-0000001-0000001",
    )  # fmt: skip
    assert (r.fulfillment_center, r.disposition, r.reason, r.country, r.line_no) == (
        "PHX7",
        "SELLABLE",
        "",
        "US",
        2,
    )


@pytest.mark.parametrize(
    "spelling",
    [
        {
            "Event Type": "event-type",
            "Reference ID": "reference-id",
            "Fulfillment Center": "fulfillment-center",
        },
        {"Event Type": "EVENT_TYPE", "Date": "date", "MSKU": "msku"},
        {"Event Type": "EventType", "Fulfillment Center": "Fulfillment_Center", "Quantity": " Quantity "},
        {"MSKU": "sku", "Title": "product-name"},
    ],
)
def test_headers_are_matched_by_normalised_name(spelling: dict[str, str]):
    header = [spelling.get(h, h) for h in HEADER]
    result = parse_ledger_report(document(row(Quantity="3", Event_Type="Receipts"), header=header))
    assert result.issues == []
    (r,) = result.rows
    assert (r.event_type, r.quantity, r.msku, r.fulfillment_center) == ("Receipts", 3, "MUG-RED", "PHX7")


def test_column_order_does_not_matter_and_extra_columns_are_ignored():
    header = [*reversed(HEADER), "Store", "Something New"]
    values = [*reversed(row(Quantity="+4", Disposition="CUSTOMER_DAMAGED")), "main", "x"]
    result = parse_ledger_report(line(header) + "\n" + line(values) + "\n")
    assert result.issues == []
    (r,) = result.rows
    assert (r.quantity, r.disposition, r.fnsku) == (4, "CUSTOMER_DAMAGED", "X00MUGRED1")


def test_optional_columns_may_be_absent():
    header = ["Date", "FNSKU", "MSKU", "Event Type", "Quantity", "Disposition"]
    text = line(header) + "\n" + line(["2026-10-02", "X00A", "A-1", "Adjustments", "-1", "SELLABLE"]) + "\n"
    (r,) = parse_ledger_report(text).rows
    assert (r.date, r.asin, r.title, r.reason, r.quantity) == (date(2026, 10, 2), "", "", "", -1)


def test_missing_required_column_names_the_column_and_headers_found():
    header = [h for h in HEADER if h not in ("Disposition", "Event Type")]
    with pytest.raises(MissingColumns) as info:
        parse_ledger_report(line(header) + "\n")
    message = str(info.value)
    assert "'Event Type'" in message and "'Disposition'" in message
    assert "'FNSKU'" in message  # the headers that were found
    assert set(info.value.missing) == {"Event Type", "Disposition"}
    assert isinstance(info.value, ReportFormatError)


def test_empty_document_is_a_format_error():
    with pytest.raises(MissingColumns):
        parse_ledger_report("")


def test_bad_lines_become_issues_with_line_numbers_and_good_lines_survive():
    text = "\n".join(
        [
            line(HEADER),
            line(row()),  # 2 ok
            line(row(Quantity="two")),  # 3 bad quantity
            line(row(Date="31/31/2026")),  # 4 bad date
            line(row()[:5]),  # 5 wrong field count
            "   ",  # 6 blank garbage
            "garbage without tabs",  # 7
            line(row(MSKU="")),  # 8 empty required value
            line(row(Quantity="-1", Date="2026-10-03")),  # 9 ok
        ]
    )
    result = parse_ledger_report(text + "\n")
    assert [r.line_no for r in result.rows] == [2, 9]
    issues = {i.line_no: i for i in result.issues}
    assert sorted(issues) == [3, 4, 5, 6, 7, 8]
    assert "Quantity" in issues[3].message and "'two'" in issues[3].message
    assert "Date" in issues[4].message and "31/31/2026" in issues[4].message
    assert "15" in issues[5].message
    assert "MSKU" in issues[8].message
    assert issues[7].raw == "garbage without tabs"


def test_signed_quantities():
    rows = [row(Quantity=q) for q in ("-3", "+2", "7", "0", "-1,000")]
    assert [r.quantity for r in parse_ledger_report(document(*rows)).rows] == [-3, 2, 7, 0, -1000]


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("10/01/2026", date(2026, 10, 1)),
        ("1/2/2026", date(2026, 1, 2)),
        ("2026-10-01", date(2026, 10, 1)),
        ("2026-10-01T23:30:00-07:00", date(2026, 10, 1)),
        ("2026-10-01 23:30:00", date(2026, 10, 1)),
    ],
)
def test_date_formats(printed: str, expected: date):
    (r,) = parse_ledger_report(document(row(Date=printed))).rows
    assert r.date == expected


def test_crlf_bom_and_unquoted_fields_are_tolerated():
    header = "\ufeff" + "\t".join(HEADER)
    values = "\t".join(str(v) for v in row(Title='Lamp 5" shade'))
    result = parse_ledger_report(header + "\r\n" + values + "\r\n")
    assert result.issues == []
    assert result.rows[0].title == 'Lamp 5" shade'
