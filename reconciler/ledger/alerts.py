"""The one alert path: every alert is a ledger row and a log line (sinks such as a webhook hang off
this later). Alerts about a lasting situation are recorded once per key."""

from __future__ import annotations

import logging

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
