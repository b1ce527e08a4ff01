"""`starter.py status`: per account, what an operator checks first — is it syncing, is it paused,
what waits for a person, what is owed by Amazon, what went wrong lately.

Everything but the pause comes from the ledger, so status answers even when the gate (or Temporal)
does not; the gate's answer (paused, why, since when) is asked of the running GateWorkflow."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ops import control
from reconciler.claims import marketplace_currency
from reconciler.config import AccountConfig, Settings
from reconciler.ledger.claims_due import load_claims_due
from reconciler.ledger.tables import Alert, CaseRecord, CycleRun, Effect, Hold, QuarantinedInput
from reconciler.models import EffectState

# Effects on their way to Shopify; held ones are counted as holds.
PENDING_STATES = [EffectState.PENDING, EffectState.APPROVED, EffectState.IN_FLIGHT]
ALERT_WINDOW = timedelta(days=1)


class GateView(BaseModel):
    """What the shop's gate said, or why it could not say."""

    gate: str  # "running" | "not running" | "not answering: …" | "Temporal not reachable"
    paused: bool | None = None  # None: unknown (the gate did not answer)
    pause_reason: str | None = None
    paused_since: datetime | None = None


class AccountStatus(BaseModel):
    account: str
    shop: str
    last_successful_cycle: datetime | None = None
    failing_cycles_in_a_row: int = 0
    last_failed_cycle: datetime | None = None
    gate: str = "unknown"
    paused: bool | None = None
    pause_reason: str | None = None
    paused_since: datetime | None = None
    holds: int = 0  # open holds of this account's effects, and the shop's holds of no one effect
    pending_effects: int = 0
    open_cases: dict[str, int] = Field(default_factory=dict)  # case type → open cases
    claims_due: int = 0
    claims_due_units: int = 0
    claims_due_value: dict[str, float] = Field(default_factory=dict)  # currency → amount, where known
    claims_due_unvalued: int = 0  # claims whose value is not known yet
    quarantined: int = 0
    alerts_last_day: int = 0
    alert_kinds: dict[str, int] = Field(default_factory=dict)


def ledger_status(
    engine: Engine, settings: Settings, now: datetime, accounts: Sequence[AccountConfig] | None = None
) -> list[AccountStatus]:
    """Everything the ledger knows, per account (a fixed number of queries per account)."""
    out = []
    for a in accounts if accounts is not None else settings.accounts:
        with Session(engine) as s:
            status = AccountStatus(account=a.name, shop=a.shop)
            ok = col(CycleRun.ok)
            status.last_successful_cycle = s.exec(
                select(func.max(CycleRun.finished_at)).where(CycleRun.account == a.name, ok.is_(True))
            ).one()
            failed = select(func.count(), func.max(CycleRun.finished_at)).where(
                CycleRun.account == a.name, ok.is_(False)
            )
            if status.last_successful_cycle is not None:
                failed = failed.where(col(CycleRun.finished_at) > status.last_successful_cycle)
            status.failing_cycles_in_a_row, status.last_failed_cycle = s.exec(failed).one()
            status.holds = s.exec(
                select(func.count())
                .select_from(Hold)
                .outerjoin(Effect, col(Effect.id) == col(Hold.effect_id))
                .where(
                    Hold.state == "open",
                    or_(
                        Effect.account == a.name,
                        and_(col(Hold.effect_id).is_(None), Hold.shop == a.shop),
                    ),
                )
            ).one()
            status.pending_effects = s.exec(
                select(func.count())
                .select_from(Effect)
                .where(Effect.account == a.name, col(Effect.state).in_(PENDING_STATES))
            ).one()
            status.open_cases = {
                kind: n
                for kind, n in s.exec(
                    select(CaseRecord.case_type, func.count())
                    .where(CaseRecord.account == a.name, col(CaseRecord.closed).is_(False))
                    .group_by(CaseRecord.case_type)
                    .order_by(CaseRecord.case_type)
                )
            }
            status.quarantined = s.exec(
                select(func.count())
                .select_from(QuarantinedInput)
                .where(QuarantinedInput.account == a.name, QuarantinedInput.state == "open")
            ).one()
            # Shop-wide alerts (large deltas) carry no account; their key starts with the shop.
            kinds = s.exec(
                select(Alert.kind, func.count())
                .where(
                    col(Alert.created_at) >= now - ALERT_WINDOW,
                    or_(
                        Alert.account == a.name,
                        and_(col(Alert.account).is_(None), col(Alert.key).startswith(f"{a.shop}:")),
                    ),
                )
                .group_by(Alert.kind)
                .order_by(Alert.kind)
            ).all()
        status.alert_kinds = {kind: n for kind, n in kinds}
        status.alerts_last_day = sum(status.alert_kinds.values())
        claims = load_claims_due(
            engine, account=a.name, currencies={a.name: marketplace_currency(a.marketplace)}
        )
        status.claims_due = len(claims)
        status.claims_due_units = sum(c.units_owed for c in claims)
        for c in claims:
            if c.amount_owed is None:
                status.claims_due_unvalued += 1
            else:
                key = c.currency or "?"
                status.claims_due_value[key] = round(status.claims_due_value.get(key, 0.0) + c.amount_owed, 2)
        out.append(status)
    return out


async def gate_view(client: Client | None, shop: str) -> GateView:
    """The gate's own answer; a gate that is not running (or a Temporal that is unreachable) is said so,
    never an error."""
    if client is None:
        return GateView(gate="Temporal not reachable")
    try:
        gate = await control.gate_status(client, shop)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return GateView(gate="not running")
        return GateView(gate=f"not answering: {e.message}")
    except Exception as e:  # a failed query, a closed workflow with no worker...
        return GateView(gate=f"not answering: {type(e).__name__}: {e}")
    return GateView(
        gate="running", paused=gate.paused, pause_reason=gate.pause_reason, paused_since=gate.paused_at
    )


async def account_statuses(
    engine: Engine,
    settings: Settings,
    client: Client | None,
    now: datetime,
    accounts: Sequence[AccountConfig] | None = None,
) -> list[AccountStatus]:
    statuses = ledger_status(engine, settings, now, accounts)
    gates = {shop: await gate_view(client, shop) for shop in dict.fromkeys(s.shop for s in statuses)}
    for s in statuses:
        g = gates[s.shop]
        s.gate, s.paused, s.pause_reason, s.paused_since = g.gate, g.paused, g.pause_reason, g.paused_since
    return statuses
