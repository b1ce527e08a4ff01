"""Inputs, outputs, signals and updates of the workflows and activities.

Small by design: ids and counts travel through Temporal, bulk data stays in the ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from reconciler.clock import Clock
from reconciler.config import Rules


class SyncCycleInput(BaseModel):
    account: str
    shop: str
    rules: Rules
    clock: Clock
    max_retry_interval_s: float = 60


class StreamRequest(BaseModel):
    account: str
    rules: Rules
    clock: Clock


class StreamOutcome(BaseModel):
    stream: str
    skipped: str | None = None  # why the stream was not read this cycle
    status: str = "ok"  # ok | cancelled | fatal
    rows_read: int = 0
    rows_new: int = 0
    effects: int = 0
    absorbed: int = 0  # of `effects`: late rows a reconciliation correction already covers
    quarantined: int = 0
    issues: int = 0


class CycleRecord(BaseModel):
    account: str
    workflow_id: str
    run_id: str
    started_at: datetime
    outcomes: list[StreamOutcome]
    error: str | None = None  # the cycle itself failed (a non-retryable activity error)


class CycleSummary(BaseModel):
    account: str
    outcomes: list[StreamOutcome]

    @property
    def effects(self) -> int:
        return sum(o.effects for o in self.outcomes)

    def sentence(self) -> str:
        parts = []
        for o in self.outcomes:
            if o.skipped:
                parts.append(f"{o.stream}: skipped ({o.skipped})")
            else:
                parts.append(
                    f"{o.stream}: {o.status}, {o.rows_new} new of {o.rows_read} rows, "
                    f"{o.effects} effects, {o.quarantined} quarantined"
                )
        return "; ".join(parts) or "nothing due"


# --- the gate ------------------------------------------------------------------------------------


class Thresholds(BaseModel):
    units: int
    pct: float


class GateState(BaseModel):
    """Everything the gate carries across continue-as-new."""

    shop: str
    thresholds: dict[str, Thresholds]  # per account
    poll_seconds: float = 60
    max_retry_interval_s: float = 60
    passes_per_run: int = Field(default=200, ge=1, description="passes before continue-as-new")
    paused: bool = False
    pause_reason: str | None = None
    paused_at: datetime | None = None
    passes: int = 0
    effects_applied: int = 0
    last_pass_at: datetime | None = None


class PauseRequest(BaseModel):
    reason: str = Field(default="paused by an operator", min_length=1)
    by: str = "operator"


class HoldDecision(BaseModel):
    hold_ids: list[int]
    by: str
    note: str | None = None

    @field_validator("hold_ids")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        return sorted(set(v))


class HoldDecisionRequest(HoldDecision):
    shop: str
    approve: bool


class HoldDecisionResult(BaseModel):
    resolved: list[int] = Field(default_factory=list)
    not_open: list[int] = Field(default_factory=list)  # unknown, already decided, or of another shop


class RevertRequest(BaseModel):
    """Undo applied reconciliation corrections: by their hold ids, their effect ids (as `starter.py log`
    shows them), or all of one reconciliation run."""

    shop: str = ""  # filled in by the gate
    hold_ids: list[int] = Field(default_factory=list)
    effect_ids: list[int] = Field(default_factory=list)
    run_id: int | None = None
    by: str
    note: str | None = None


class RevertResult(BaseModel):
    reverted: list[int] = Field(default_factory=list)  # hold ids whose correction is now undone
    revert_effect_ids: list[int] = Field(default_factory=list)
    released: int = 0  # late-row effects the reverted corrections had absorbed, now pending again
    refused: dict[int, str] = Field(default_factory=dict)  # hold id (0: the run; −N: effect N) → why not


class GateStatus(BaseModel):
    shop: str
    paused: bool
    pause_reason: str | None
    paused_at: datetime | None
    passes: int
    effects_applied: int
    last_pass_at: datetime | None
    in_pass: bool = False  # a pass is under way (paused: it plans no more and sends nothing)


class PlanRequest(BaseModel):
    shop: str
    thresholds: dict[str, Thresholds]
    max_effects: int = 50_000


class PlanResult(BaseModel):
    attempt_ids: list[int] = Field(default_factory=list)
    effects_planned: int = 0
    effects_held: int = 0
    effects_netted_to_zero: int = 0
    more: bool = False  # more pending effects than one pass takes


class AttemptResult(BaseModel):
    attempt_id: int
    state: str  # succeeded | stale | failed | expired | split | not_open
    next_attempt_id: int | None = None
    effects_applied: int = 0
    effects_failed: int = 0
    message: str | None = None


# --- case workflows ---------------------------------------------------------------------------------


class CaseInput(BaseModel):
    case_id: str
    account: str
    shop: str
    rules: Rules
    clock: Clock
    max_retry_interval_s: float = 60


class EvaluateRequest(BaseModel):
    case_id: str
    account: str
    rules: Rules
    as_of: datetime  # business time, from the workflow's clock (time skipping moves it)


class CaseStatus(BaseModel):
    case_id: str
    case_type: str
    state: str
    sku: str = ""
    claim_due: bool = False
    claim_expired: bool = False
    details: str = ""
    next_wake: datetime | None = None
    closed: bool = False
    evidence_seen: int = 0
    effects_new: int = 0


class RemovalReceipt(BaseModel):
    """The warehouse confirms units of a removal order arrived."""

    order_id: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    tracking_number: str = ""
    by: str = "warehouse"
    receipt_id: str = Field(min_length=1)  # unique per confirmation: the same confirmation twice counts once


# --- full reconciliation --------------------------------------------------------------------------


class ReconcileInput(BaseModel):
    account: str
    shop: str
    rules: Rules
    clock: Clock
    max_retry_interval_s: float = 60
    # A shadow run (onboarding's preview) compares and reports every change it would make, holds nothing.
    shadow: bool = False


class ReconcileSummary(BaseModel):
    run_id: int
    account: str
    shadow: bool = False
    amazon_rows: int = 0
    shopify_rows: int = 0
    discrepancies: int = 0
    corrections_held: int = 0
    report_csv: str | None = None
    report_md: str | None = None
    amazon_snapshot: str = ""  # how Amazon's side was read: report | summaries


class AmazonSnapshotChoice(BaseModel):
    """How a full reconciliation reads Amazon's inventory (`Rules.reconcile_snapshot` = auto), and why."""

    source: Literal["report", "summaries"]
    catalogue: int | None = None  # SKUs of the account as far as the ledger knows; None: unknown
    reason: str = ""


# --- the watchdog ---------------------------------------------------------------------------------


class WatchdogInput(BaseModel):
    """The thresholds come from the worker's settings (`alerts.*`): the watchdog watches what runs."""

    max_retry_interval_s: float = 60


class WatchdogReport(BaseModel):
    accounts: int = 0
    shops: int = 0
    raised: dict[str, int] = Field(default_factory=dict)  # kind → alerts newly recorded
    lasting: int = 0  # findings already alerted in this episode
    gates_unreachable: list[str] = Field(default_factory=list)

    def sentence(self) -> str:
        raised = ", ".join(f"{n} {kind}" for kind, n in sorted(self.raised.items())) or "no new alert"
        out = f"{self.accounts} account(s), {self.shops} shop(s): {raised}; {self.lasting} already alerted"
        if self.gates_unreachable:
            out += f"; gate(s) not answering: {', '.join(self.gates_unreachable)}"
        return out
