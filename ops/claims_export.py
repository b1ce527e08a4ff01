"""`starter.py claims export`: one CSV row per claim due, with what a seller files with Amazon — the
case, FNSKU and MSKU, the units and value owed, the deadline, the event dates and the reference ids
(order, removal order, shipment, reimbursements already paid). The rows come from
`reconciler/ledger/claims_due.py`; this module only chooses the currency default and writes."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import IO

from sqlalchemy.engine import Engine

from reconciler.claims import CLAIM_COLUMNS, ClaimRow, marketplace_currency
from reconciler.config import Settings
from reconciler.ledger.claims_due import load_claims_due


def claims_due(engine: Engine, settings: Settings, account: str | None = None) -> list[ClaimRow]:
    """Every claim due (of one account, or of all), earliest deadline first."""
    if account:
        settings.account(account)  # an unknown account is a usage error, not an empty export
    currencies = {a.name: marketplace_currency(a.marketplace) for a in settings.accounts}
    return load_claims_due(engine, account=account, currencies=currencies)


def write_csv(rows: Sequence[ClaimRow], out: IO[str]) -> int:
    w = csv.writer(out)
    w.writerow(CLAIM_COLUMNS)
    for row in rows:
        w.writerow(row.csv_row())
    return len(rows)


def write_json(rows: Sequence[ClaimRow], out: IO[str]) -> int:
    out.write(json.dumps([r.model_dump(mode="json") for r in rows], indent=1) + "\n")
    return len(rows)
