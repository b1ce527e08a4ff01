"""The one alert path: every alert is a ledger row and a log line (sinks such as a webhook hang off
this later). Alerts about a lasting situation are recorded once per key."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection
from sqlmodel import Session, select

from reconciler.ledger.tables import Alert

log = logging.getLogger("recon.alert")


def raise_alert(
    s: Session, kind: str, key: str, message: str, *, account: str | None = None, once: bool = True
) -> bool:
    """Record the alert in the caller's transaction. With `once`, an alert already recorded under the
    same kind and key is not repeated. True when recorded."""
    if once and s.exec(select(Alert.id).where(Alert.kind == kind, Alert.key == key)).first() is not None:
        return False
    s.add(Alert(kind=kind, key=key, account=account, message=message))
    log.warning(message, extra={"alert": kind, "key": key, "account": account})
    return True


QUARANTINE_REASONS_SHOWN = 3


def alert_quarantined(s: Session | Connection, account: str, stream: str, reasons: Sequence[str]) -> bool:
    """One `quarantined_input` alert for a read that quarantined rows, in the read's own transaction
    (a Session, or the Core connection of a bulk ingest). The key is the account's stream and the alert
    is recorded for every such read: the dispatcher's cool-down keeps a stream that quarantines a row
    each cycle from sending more than one message per cool-down."""
    if not reasons:
        return False
    distinct = list(dict.fromkeys(reasons))
    shown = "; ".join(distinct[:QUARANTINE_REASONS_SHOWN])
    more = (
        f" (and {len(distinct) - QUARANTINE_REASONS_SHOWN} other reasons)"
        if len(distinct) > QUARANTINE_REASONS_SHOWN
        else ""
    )
    message = (
        f"account {account}: {len(reasons)} {stream} row(s) quarantined in one read: {shown}{more}. "
        "Nothing is dropped: `starter.py quarantine list`; fix the SKU map or the product, then "
        "`starter.py quarantine retry` (each cycle retries too)."
    )
    key = f"{account}:{stream}"
    if isinstance(s, Session):
        return raise_alert(s, "quarantined_input", key, message, account=account, once=False)
    # A session joined to the caller's connection: it flushes into that transaction, never commits it.
    with Session(bind=s) as joined:
        raised = raise_alert(joined, "quarantined_input", key, message, account=account, once=False)
        joined.flush()
    return raised
