"""The claims due, read from the ledger: each case whose latest evaluation says a claim can be filed
now (CaseRecord), with its evidence and the ledger rows its lost units came from. A handful of queries
whatever the number of claims (IN batches, never one query per case)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reconciler.cases.model import Evidence as CaseEvidence
from reconciler.claims import CLAIM_DUE_STATE, ClaimRow, build_claim
from reconciler.clock import as_utc
from reconciler.ledger.evidence_store import to_case_evidence
from reconciler.ledger.tables import CaseRecord, Evidence, LedgerSourceRow, Movement

IN_BATCH = 900  # below SQLite's default limit of bound parameters per statement
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_claims_due(
    engine: Engine, *, account: str | None = None, currencies: Mapping[str, str] | None = None
) -> list[ClaimRow]:
    """One row per claim due, earliest deadline first. `currencies`: account → the marketplace's
    currency, for cases whose reimbursements named none."""
    with Session(engine) as s:
        stmt = (
            select(CaseRecord)
            .where(col(CaseRecord.claim_due).is_(True), CaseRecord.state == CLAIM_DUE_STATE)
            .order_by(col(CaseRecord.claim_deadline), col(CaseRecord.case_id))
        )
        if account:
            stmt = stmt.where(CaseRecord.account == account)
        records = list(s.exec(stmt).all())
        evidence: dict[str, list[CaseEvidence]] = {}
        for batch in chunks([r.case_id for r in records]):
            for e in s.exec(
                select(Evidence).where(col(Evidence.case_id).in_(batch)).order_by(col(Evidence.id))
            ):
                evidence.setdefault(e.case_id, []).append(to_case_evidence(e))
        movement_keys = sorted(
            {
                str(e.data["movement"])
                for rows in evidence.values()
                for e in rows
                if e.kind in ("lost", "found") and e.data.get("movement")
            }
        )
        references = _ledger_references(s, movement_keys)
    return [
        build_claim(
            case_id=r.case_id,
            case_type=r.case_type,
            account=r.account,
            owed_units=r.owed_units,
            owed_amount=r.owed_amount,
            deadline=as_utc(r.claim_deadline) if r.claim_deadline else None,
            details=r.details,
            evidence=evidence.get(r.case_id, []),
            ledger_references=references,
            default_currency=(currencies or {}).get(r.account, ""),
        )
        for r in records
    ]


def _ledger_references(s: Session, movement_keys: list[str]) -> dict[str, str]:
    """Movement key → "reference id (fulfilment centre)" of the ledger row it came from."""
    movements: list[tuple[str, str, str]] = []
    for batch in chunks(movement_keys):
        movements.extend(
            s.exec(
                select(Movement.key, Movement.reference_id, Movement.source_ref).where(
                    col(Movement.key).in_(batch)
                )
            ).all()
        )
    source_ids = [
        int(ref.split(":", 1)[1]) for _, _, ref in movements if ref.startswith("ledger_source_row:")
    ]
    centres: dict[int, str] = {}
    for batch in chunks(source_ids):
        for row_id, centre in s.exec(
            select(LedgerSourceRow.id, LedgerSourceRow.fulfillment_center).where(
                col(LedgerSourceRow.id).in_(batch)
            )
        ):
            if row_id is not None:
                centres[row_id] = centre
    out: dict[str, str] = {}
    for key, reference, source_ref in movements:
        centre = (
            centres.get(int(source_ref.split(":", 1)[1]), "")
            if source_ref.startswith("ledger_source_row:")
            else ""
        )
        out[key] = f"{reference or 'no reference id'}{f' ({centre})' if centre else ''}"
    return out
