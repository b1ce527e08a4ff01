"""The monthly finance report (ARCHITECTURE §5, ReportWorkflow): what moved in Shopify, what Amazon
lost, found and reimbursed, and the claims due with their value — for one account and one month.

Pure: grouped ledger figures in (the activity queries them, grouped in SQL so a month of 100,000
effects arrives as a few thousand totals), a `FinanceReport` out, rendered as CSV rows and Markdown.
Also the workflow's input and its small summary (paths and totals, never the rows).

Units: "moved" is in Shopify units (the effects that were applied); lost and found are in Amazon units
(the ledger's M, 5 and F rows) per MSKU; reimbursements as Amazon reported them, net of reversals.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel, Field

from reconciler.claims import ClaimRow
from reconciler.clock import Clock

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
LOST_CODES = frozenset({"M", "5"})
FOUND_CODES = frozenset({"F"})
CSV_COLUMNS = [
    "section",
    "kind",
    "reason",
    "location",
    "name",
    "sku",
    "units_in",
    "units_out",
    "net_units",
    "count",
    "amount",
    "currency",
    "detail",
]
MARKDOWN_TOP = 50  # SKUs and claims listed in the Markdown; the CSV has them all


# --- months ---------------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of "YYYY-MM"."""
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def previous_month(today: date) -> str:
    year, mon = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{mon:02d}"


# --- workflow input and output ----------------------------------------------------------------------


class FinanceReportInput(BaseModel):
    """The monthly report of one account. `month` None: the month before the business date the
    workflow starts on (the monthly schedule's way)."""

    account: str
    month: str | None = Field(default=None, pattern=MONTH_PATTERN)
    clock: Clock = Field(default_factory=Clock)
    max_retry_interval_s: float = 60


class FinanceReportRequest(BaseModel):
    account: str
    month: str = Field(pattern=MONTH_PATTERN)


class FinanceReportSummary(BaseModel):
    """What the workflow returns: where the report is and its headline figures."""

    account: str
    month: str
    csv_path: str
    md_path: str
    effects_applied: int
    units_in: int
    units_out: int
    lost_units: int
    found_units: int
    reimbursed_units: int
    reimbursed_amounts: dict[str, float] = Field(default_factory=dict)  # currency → amount
    claims_due: int
    claims_due_units: int
    claims_due_value: dict[str, float] = Field(default_factory=dict)  # currency → amount, where known


# --- inputs, as the activity reads them -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectTotal:
    """Applied effects of one (kind, reason, location, name, Shopify SKU) in the month."""

    kind: str
    reason: str
    location: str
    name: str
    sku: str
    units_in: int  # Σ positive deltas
    units_out: int  # Σ |negative deltas|
    effects: int


@dataclass(frozen=True, slots=True)
class LedgerAdjustmentTotal:
    """Ledger Adjustments rows of one MSKU and reason code in the month (Amazon units, signed sum)."""

    msku: str
    fnsku: str
    reason_code: str
    quantity: int
    rows: int


@dataclass(frozen=True, slots=True)
class ReimbursementLine:
    """One reimbursement (or reversal) evidence row approved in the month."""

    reimbursement_id: str
    reversal: bool
    reason: str
    sku: str  # MSKU, else FNSKU
    case_id: str
    cash_units: int
    inventory_units: int
    amount: float  # as reported, ≥ 0; a reversal subtracts it
    currency: str


# --- the report -------------------------------------------------------------------------------------


class UnitsTotal(BaseModel):
    key: str
    units_in: int = 0
    units_out: int = 0
    effects: int = 0

    @property
    def net(self) -> int:
        return self.units_in - self.units_out


class SkuUnits(BaseModel):
    sku: str
    fnsku: str = ""
    units: int = 0
    rows: int = 0


class CurrencyTotal(BaseModel):
    currency: str
    cash_units: int = 0
    inventory_units: int = 0
    amount: float = 0.0
    reimbursements: int = 0
    reversals: int = 0

    @property
    def units(self) -> int:
        return self.cash_units + self.inventory_units


class FinanceReport(BaseModel):
    account: str
    month: str
    first_day: date
    last_day: date
    generated_at: datetime
    default_currency: str = ""
    # moved in Shopify (applied effects, Shopify units)
    effects_applied: int = 0
    units_in: int = 0
    units_out: int = 0
    by_kind: list[UnitsTotal] = Field(default_factory=list)
    by_reason: list[UnitsTotal] = Field(default_factory=list)
    by_location: list[UnitsTotal] = Field(default_factory=list)  # "fba.available", "warehouse.incoming"...
    by_sku: list[UnitsTotal] = Field(default_factory=list)
    moved: list[EffectTotal] = Field(default_factory=list)  # the finest grain, for the CSV
    unwritten_effects: int = 0  # effects of the month not (yet) written: pending, held, failed...
    # Amazon's ledger (Amazon units)
    lost_units: int = 0
    found_units: int = 0
    lost: list[SkuUnits] = Field(default_factory=list)
    found: list[SkuUnits] = Field(default_factory=list)
    # reimbursements, net of reversals
    reimbursed: list[CurrencyTotal] = Field(default_factory=list)
    reimbursements: list[ReimbursementLine] = Field(default_factory=list)
    # claims due (as of generated_at, whatever month they arose in)
    claims: list[ClaimRow] = Field(default_factory=list)
    claims_due_value: dict[str, float] = Field(default_factory=dict)
    claims_unvalued: int = 0

    @property
    def net_units(self) -> int:
        return self.units_in - self.units_out

    @property
    def reimbursed_units(self) -> int:
        return sum(c.units for c in self.reimbursed)

    @property
    def claims_due_units(self) -> int:
        return sum(c.units_owed for c in self.claims)

    def summary(self, csv_path: str, md_path: str) -> FinanceReportSummary:
        return FinanceReportSummary(
            account=self.account,
            month=self.month,
            csv_path=csv_path,
            md_path=md_path,
            effects_applied=self.effects_applied,
            units_in=self.units_in,
            units_out=self.units_out,
            lost_units=self.lost_units,
            found_units=self.found_units,
            reimbursed_units=self.reimbursed_units,
            reimbursed_amounts={c.currency: c.amount for c in self.reimbursed},
            claims_due=len(self.claims),
            claims_due_units=self.claims_due_units,
            claims_due_value=self.claims_due_value,
        )


def _roll_up(totals: Sequence[EffectTotal], key: Callable[[EffectTotal], str]) -> list[UnitsTotal]:
    out: dict[str, UnitsTotal] = {}
    for t in totals:
        u = out.setdefault(key(t), UnitsTotal(key=key(t)))
        u.units_in += t.units_in
        u.units_out += t.units_out
        u.effects += t.effects
    return sorted(out.values(), key=lambda u: (-(u.units_in + u.units_out), u.key))


def _by_sku(rows: Sequence[LedgerAdjustmentTotal]) -> list[SkuUnits]:
    out: dict[str, SkuUnits] = {}
    for r in rows:
        s = out.setdefault(r.msku, SkuUnits(sku=r.msku, fnsku=r.fnsku))
        s.units += abs(r.quantity)
        s.rows += r.rows
    return sorted(out.values(), key=lambda s: (-s.units, s.sku))


def build_report(
    *,
    account: str,
    month: str,
    generated_at: datetime,
    moved: Sequence[EffectTotal],
    adjustments: Sequence[LedgerAdjustmentTotal],
    reimbursements: Sequence[ReimbursementLine],
    claims: Sequence[ClaimRow],
    unwritten_effects: int = 0,
    default_currency: str = "",
) -> FinanceReport:
    first, last = month_bounds(month)
    report = FinanceReport(
        account=account,
        month=month,
        first_day=first,
        last_day=last,
        generated_at=generated_at,
        default_currency=default_currency,
        moved=sorted(moved, key=lambda t: (t.kind, t.reason, t.location, t.name, t.sku)),
        unwritten_effects=unwritten_effects,
        reimbursements=list(reimbursements),
        claims=list(claims),
    )
    report.effects_applied = sum(t.effects for t in moved)
    report.units_in = sum(t.units_in for t in moved)
    report.units_out = sum(t.units_out for t in moved)
    report.by_kind = _roll_up(moved, lambda t: t.kind)
    report.by_reason = _roll_up(moved, lambda t: t.reason)
    report.by_location = _roll_up(moved, lambda t: f"{t.location}.{t.name}")
    report.by_sku = _roll_up(moved, lambda t: t.sku)

    lost = [a for a in adjustments if a.reason_code in LOST_CODES]
    found = [a for a in adjustments if a.reason_code in FOUND_CODES]
    report.lost, report.found = _by_sku(lost), _by_sku(found)
    report.lost_units = sum(s.units for s in report.lost)
    report.found_units = sum(s.units for s in report.found)

    currencies: dict[str, CurrencyTotal] = {}
    for r in reimbursements:
        c = currencies.setdefault(
            r.currency or default_currency, CurrencyTotal(currency=r.currency or default_currency)
        )
        sign = -1 if r.reversal else 1
        c.cash_units += sign * r.cash_units
        c.inventory_units += sign * r.inventory_units
        c.amount = round(c.amount + sign * r.amount, 2)
        if r.reversal:
            c.reversals += 1
        else:
            c.reimbursements += 1
    report.reimbursed = sorted(currencies.values(), key=lambda c: c.currency)

    for claim in claims:
        if claim.amount_owed is None:
            report.claims_unvalued += 1
        else:
            cur = claim.currency or default_currency
            report.claims_due_value[cur] = round(report.claims_due_value.get(cur, 0.0) + claim.amount_owed, 2)
    return report


# --- rendering --------------------------------------------------------------------------------------


def csv_rows(report: FinanceReport) -> Iterator[list[str | int | float]]:
    """One table a spreadsheet can pivot: a `section` column says what each row is."""
    yield CSV_COLUMNS
    for t in report.moved:
        yield [
            "moved",
            t.kind,
            t.reason,
            t.location,
            t.name,
            t.sku,
            t.units_in,
            t.units_out,
            t.units_in - t.units_out,
            t.effects,
            "",
            "",
            "",
        ]
    for section, rows, sign in (("lost", report.lost, -1), ("found", report.found, 1)):
        for s in rows:
            units_in, units_out = (s.units, 0) if sign > 0 else (0, s.units)
            detail = f"FNSKU {s.fnsku}" if s.fnsku else ""
            yield [
                section,
                section,
                "",
                "fba",
                "",
                s.sku,
                units_in,
                units_out,
                sign * s.units,
                s.rows,
                "",
                "",
                detail,
            ]
    for r in report.reimbursements:
        sign = -1 if r.reversal else 1
        units = r.cash_units + r.inventory_units
        paid_in = " and ".join(k for k, n in (("cash", r.cash_units), ("inventory", r.inventory_units)) if n)
        yield [
            "reimbursement_reversal" if r.reversal else "reimbursement",
            paid_in,
            r.reason,
            "",
            "",
            r.sku,
            units if sign > 0 else 0,
            units if sign < 0 else 0,
            sign * units,
            1,
            f"{sign * r.amount:.2f}",
            r.currency or report.default_currency,
            f"{r.reimbursement_id} ({r.case_id}): {r.cash_units} cash, {r.inventory_units} inventory",
        ]
    for c in report.claims:  # net_units: what Amazon owes (nothing moved)
        yield [
            "claim_due",
            c.case_type,
            "",
            "",
            "",
            c.msku or c.fnsku,
            "",
            "",
            c.units_owed,
            1,
            "" if c.amount_owed is None else f"{c.amount_owed:.2f}",
            c.currency,
            f"{c.case_id}; file by {c.deadline.isoformat() if c.deadline else '?'}",
        ]


def _money(amounts: dict[str, float]) -> str:
    return ", ".join(f"{v:,.2f} {k}" for k, v in sorted(amounts.items())) or "none"


def _units_table(title: str, column: str, rows: Sequence[UnitsTotal], limit: int | None = None) -> list[str]:
    if not rows:
        return [f"### {title}", "", "Nothing.", ""]
    shown = rows[:limit] if limit else rows
    lines = [
        f"### {title}",
        "",
        f"| {column} | in | out | net | effects |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {u.key} | {u.units_in} | {u.units_out} | {u.net:+d} | {u.effects} |" for u in shown]
    if limit and len(rows) > limit:
        lines.append(f"| … {len(rows) - limit} more in the CSV | | | | |")
    return [*lines, ""]


def markdown(report: FinanceReport) -> str:
    r = report
    lines = [
        f"# Finance report {r.month} — account {r.account}",
        "",
        f"{r.first_day.isoformat()} to {r.last_day.isoformat()} (business dates); generated "
        f"{r.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | ---: |",
        f"| effects applied to Shopify | {r.effects_applied} |",
        f"| units in / out / net (Shopify units) | {r.units_in} / {r.units_out} / {r.net_units:+d} |",
        f"| lost at Amazon (M, 5) | {r.lost_units} |",
        f"| found at Amazon (F) | {r.found_units} |",
        f"| reimbursed units (net of reversals) | {r.reimbursed_units} |",
        f"| reimbursed amount | {_money({c.currency or '?': c.amount for c in r.reimbursed})} |",
        f"| claims due now | {len(r.claims)} ({r.claims_due_units} units) |",
        f"| value of the claims due, where known | {_money(r.claims_due_value)}"
        + (f"; {r.claims_unvalued} without a known value" if r.claims_unvalued else "")
        + " |",
        "",
    ]
    if r.unwritten_effects:
        lines += [
            f"{r.unwritten_effects} effect(s) of the month are not written to Shopify yet (pending, held, "
            "approved, in flight or failed) and are not counted above (`starter.py status`, "
            "`starter.py holds list`).",
            "",
        ]
    lines += ["## Units moved in Shopify", ""]
    lines += _units_table("By kind", "kind", r.by_kind)
    lines += _units_table("By Shopify reason", "reason", r.by_reason)
    lines += _units_table("By location and quantity", "location.name", r.by_location)
    lines += _units_table(f"By SKU (top {MARKDOWN_TOP})", "Shopify SKU", r.by_sku, MARKDOWN_TOP)
    lines += ["## Lost and found at Amazon", ""]
    if r.lost or r.found:
        found = {s.sku: s.units for s in r.found}
        lost = {s.sku: s.units for s in r.lost}
        skus = sorted(set(found) | set(lost), key=lambda k: (-(lost.get(k, 0) - found.get(k, 0)), k))
        lines += ["| MSKU | lost | found | net lost |", "| --- | ---: | ---: | ---: |"]
        for sku in skus[:MARKDOWN_TOP]:
            lines.append(
                f"| {sku} | {lost.get(sku, 0)} | {found.get(sku, 0)} | {lost.get(sku, 0) - found.get(sku, 0)} |"
            )
        if len(skus) > MARKDOWN_TOP:
            lines.append(f"| … {len(skus) - MARKDOWN_TOP} more in the CSV | | | |")
    else:
        lines.append("Nothing lost or found.")
    lines += ["", "## Reimbursements", ""]
    if r.reimbursed:
        lines += [
            "| currency | cash units | inventory units | amount | reimbursements | reversals |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {c.currency or '?'} | {c.cash_units} | {c.inventory_units} | {c.amount:,.2f} | "
            f"{c.reimbursements} | {c.reversals} |"
            for c in r.reimbursed
        ]
    else:
        lines.append("No reimbursement approved this month.")
    lines += ["", "## Claims due", ""]
    if r.claims:
        lines += [
            "File these with Amazon (`starter.py claims export` has every reference):",
            "",
            "| case | SKU | units | value | file by |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        for c in r.claims[:MARKDOWN_TOP]:
            value = "unknown" if c.amount_owed is None else f"{c.amount_owed:,.2f} {c.currency}".strip()
            lines.append(
                f"| {c.case_id} | {c.msku or c.fnsku} | {c.units_owed} | {value} | "
                f"{c.deadline.isoformat() if c.deadline else '?'} |"
            )
        if len(r.claims) > MARKDOWN_TOP:
            lines.append(f"| … {len(r.claims) - MARKDOWN_TOP} more in the CSV | | | | |")
    else:
        lines.append("No claim is due.")
    return "\n".join(lines) + "\n"
