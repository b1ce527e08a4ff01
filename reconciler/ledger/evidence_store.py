"""Storing evidence for the case workflows: once per unique key, routed where the row alone cannot
say its case, in the same transaction as the stream's cursor (ARCHITECTURE §4.3)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reconciler.cases.model import Evidence as CaseEvidence
from reconciler.clock import as_utc
from reconciler.evidence import NO_CASE, EvidenceIn, lost_case
from reconciler.ledger.alerts import alert_quarantined
from reconciler.ledger.tables import CaseRecord, Cursor, Evidence, Movement, QuarantinedInput, ReportRequest
from reconciler.models import FlatFileIssue

LOST_CODES = {"M": "lost", "5": "lost", "F": "found"}


class EvidenceResult(BaseModel):
    rows_read: int = 0
    new: int = 0
    unrouted: int = 0
    issues: int = 0


def _existing_keys(s: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 900):
        found.update(s.exec(select(Evidence.key).where(col(Evidence.key).in_(keys[i : i + 900]))).all())
    return found


def _route(s: Session, item: EvidenceIn) -> str | None:
    assert item.route is not None
    kind, _, ref = item.route.partition(":")
    if kind == "reversal":
        original = s.exec(
            select(Evidence.case_id).where(
                col(Evidence.key).startswith(f"reimbursement:{item.account}:{ref}:")
            )
        ).first()
        return original
    if kind == "inbound_shortage":
        # The oldest inbound shipment of that FNSKU whose case is still open (else the oldest at all).
        rows = s.exec(
            select(Evidence.case_id, Evidence.data, Evidence.id)
            .where(Evidence.account == item.account, Evidence.kind == "inbound_item")
            .order_by(col(Evidence.id))
        ).all()
        cases = [case for case, data, _ in rows if json.loads(data).get("fnsku") == ref]
        for case in dict.fromkeys(cases):
            record = s.get(CaseRecord, case)
            if record is None or not record.closed:
                return case
        return cases[0] if cases else None
    return None


def store_evidence(
    engine: Engine,
    items: Sequence[EvidenceIn],
    *,
    account: str,
    stream: str,
    cursor_position: datetime | None = None,
    issues: Sequence[FlatFileIssue] = (),
    report_request_id: int | None = None,
) -> EvidenceResult:
    """Insert the evidence not stored yet, quarantine what cannot be routed or read, and advance the
    stream's cursor — all in one transaction."""
    result = EvidenceResult(rows_read=len(items), issues=len(issues))
    quarantined: list[str] = []  # reasons of the rows this read quarantined (for one alert)
    with Session(engine) as s, s.begin():
        existing = _existing_keys(s, [i.key for i in items])
        for item in items:
            if item.key in existing:
                continue
            existing.add(item.key)
            case_id = item.case_id if item.case_id is not None else _route(s, item)
            if case_id is None:
                result.unrouted += 1
                reason = f"{item.kind} matches no case ({item.route})"
                if _quarantine(s, account, stream, item.key, reason, item.model_dump_json()):
                    quarantined.append(reason)
                continue
            s.add(
                Evidence(
                    key=item.key,
                    account=item.account,
                    case_id=case_id,
                    kind=item.kind,
                    occurred_at=item.occurred_at,
                    quantity=item.quantity,
                    stream=item.stream,
                    data=json.dumps(item.data, sort_keys=True, default=str),
                    # No case waits for it: never signalled (reports read it).
                    signalled_at=datetime.now(UTC) if case_id == NO_CASE else None,
                )
            )
            result.new += 1
        for issue in issues:
            reason = f"{issue.report} line {issue.line_no}: {issue.message}"
            if _quarantine(
                s, account, stream, f"parse:{report_request_id}:{issue.line_no}", reason, issue.raw
            ):
                quarantined.append(reason)
        alert_quarantined(s, account, stream, quarantined)
        if cursor_position is not None:
            cursor = s.get(Cursor, (account, stream))
            if cursor is None:
                s.add(Cursor(account=account, stream=stream, position=cursor_position))
            else:
                cursor.position, cursor.updated_at = cursor_position, datetime.now(UTC)
        if report_request_id is not None:
            request = s.get(ReportRequest, report_request_id)
            if request is not None:
                request.state, request.rows_read = "ingested", len(items)
    return result


def _quarantine(s: Session, account: str, stream: str, key: str, reason: str, payload: str) -> bool:
    """Quarantine once per key; True when this call did (a re-read of the same row is not news)."""
    if (
        s.exec(
            select(QuarantinedInput.id).where(
                QuarantinedInput.account == account,
                QuarantinedInput.stream == stream,
                QuarantinedInput.key == key,
            )
        ).first()
        is None
    ):
        s.add(QuarantinedInput(account=account, stream=stream, key=key, reason=reason, payload=payload))
        return True
    return False


def derive_lost_evidence(engine: Engine, account: str) -> int:
    """Ledger losses (M, 5) and finds (F) are evidence for the FNSKU's LostUnits case. Derived from the
    stored movements that have none yet, so it catches up after any crash."""
    with Session(engine) as s, s.begin():
        movements = s.exec(
            select(Movement).where(
                Movement.account == account,
                Movement.event_type == "Adjustments",
                col(Movement.reason).in_(list(LOST_CODES)),
            )
        ).all()
        keys = [f"lost_ledger:{m.key}" for m in movements]
        existing = _existing_keys(s, keys)
        n = 0
        for m, key in zip(movements, keys, strict=True):
            if key in existing or not m.fnsku:
                continue
            s.add(
                Evidence(
                    key=key,
                    account=account,
                    case_id=lost_case(account, m.fnsku),
                    kind=LOST_CODES[m.reason],
                    occurred_at=datetime.combine(m.occurred_on, datetime.min.time(), tzinfo=UTC),
                    quantity=abs(m.quantity),
                    stream="ledger",
                    data=json.dumps({"sku": m.msku, "reason": m.reason, "movement": m.key}),
                )
            )
            n += 1
        return n


def unsignalled_cases(engine: Engine, limit: int = 5000) -> list[str]:
    with Session(engine) as s:
        return list(
            dict.fromkeys(
                s.exec(
                    select(Evidence.case_id)
                    .where(col(Evidence.signalled_at).is_(None))
                    .order_by(col(Evidence.id))
                    .limit(limit)
                ).all()
            )
        )


def mark_signalled(engine: Engine, case_ids: Sequence[str]) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        for i in range(0, len(case_ids), 900):
            for e in s.exec(
                select(Evidence).where(
                    col(Evidence.case_id).in_(case_ids[i : i + 900]), col(Evidence.signalled_at).is_(None)
                )
            ):
                e.signalled_at = now


def case_evidence(engine: Engine, case_id: str) -> list[Evidence]:
    with Session(engine) as s:
        return list(
            s.exec(select(Evidence).where(Evidence.case_id == case_id).order_by(col(Evidence.id))).all()
        )


def to_case_evidence(e: Evidence) -> CaseEvidence:
    """A stored evidence row as the case evaluators read it."""
    return CaseEvidence(
        kind=e.kind,
        key=e.key,
        occurred_at=as_utc(e.occurred_at),
        quantity=e.quantity,
        data=json.loads(e.data),
    )


def evidence_time(e: Evidence) -> datetime:
    return as_utc(e.occurred_at)
