"""GateWorkflow `gate:{shop}`: the single writer to one Shopify shop (ARCHITECTURE §5).

People pause and resume it, approve or reject what it holds, and ask its status. Each pass first
resends open attempts, then plans pending effects into batches (guardrails, netting, attempts stored
before they are sent — all in activities) and sends them one by one. Paused: nothing is written,
everything queues."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Activities heartbeat every few seconds: a killed worker's activity is retried within this.
HEARTBEAT = timedelta(seconds=15)

with workflow.unsafe.imports_passed_through():
    from activities.gate import GateActivities
    from reconciler.messages import (
        GateState,
        GateStatus,
        HoldDecision,
        HoldDecisionRequest,
        HoldDecisionResult,
        PauseRequest,
        PlanRequest,
        RevertRequest,
        RevertResult,
    )


@workflow.defn
class GateWorkflow:
    @workflow.init
    def __init__(self, state: GateState) -> None:
        self._state = state
        self._woken = True  # a fresh run (or continue-as-new) starts with a pass: open attempts first
        self._in_pass = False

    @workflow.run
    async def run(self, state: GateState) -> None:
        passes_this_run = 0
        while True:
            self._show()
            try:
                await workflow.wait_condition(
                    lambda: self._woken and not self._state.paused,
                    timeout=timedelta(seconds=self._state.poll_seconds),
                )
            except TimeoutError:
                pass  # a periodic pass catches anything nobody woke us for
            if self._state.paused:
                continue
            self._woken = False
            self._in_pass = True
            try:
                await self._pass()
            finally:
                self._in_pass = False
            passes_this_run += 1
            if (
                workflow.info().is_continue_as_new_suggested()
                or passes_this_run >= self._state.passes_per_run
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)

    async def _pass(self) -> None:
        retry = RetryPolicy(maximum_interval=timedelta(seconds=self._state.max_retry_interval_s))
        opened = await workflow.execute_activity_method(
            GateActivities.open_attempts,
            self._state.shop,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
            summary="open attempts",
        )
        if not await self._send(opened, retry) or self._state.paused:
            return
        plan = await workflow.execute_activity_method(
            GateActivities.plan_pass,
            PlanRequest(shop=self._state.shop, thresholds=self._state.thresholds),
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
            summary="plan pass",
        )
        await self._send(plan.attempt_ids, retry)
        self._state.passes += 1
        self._state.last_pass_at = workflow.now()
        if plan.more:
            self._woken = True

    async def _send(self, attempt_ids: list[int], retry: RetryPolicy) -> bool:
        """Send attempts in order; a STALE or split answer's next attempt goes next. Stops when paused
        (what is left stays open and is resent on resume). True when everything was sent."""
        queue = list(attempt_ids)
        while queue:
            if self._state.paused:
                return False
            attempt_id = queue.pop(0)
            workflow.set_current_details(
                f"Writing to Shopify: attempt {attempt_id}, {len(queue)} more queued"
            )
            result = await workflow.execute_activity_method(
                GateActivities.send_attempt,
                attempt_id,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=retry,
                summary=f"attempt {attempt_id}",
            )
            self._state.effects_applied += result.effects_applied
            if result.next_attempt_id is not None:
                queue.insert(0, result.next_attempt_id)
        return True

    def _show(self) -> None:
        s = self._state
        if s.paused:
            workflow.set_current_details(
                f"Paused since {s.paused_at:%Y-%m-%d %H:%M} UTC: {s.pause_reason}. "
                "Nothing is written to Shopify; effects queue."
            )
        else:
            workflow.set_current_details(
                f"Idle after {s.passes} passes; {s.effects_applied} effects applied."
            )

    # --- people --------------------------------------------------------------------------------------
    @workflow.signal
    def pause(self, request: PauseRequest) -> None:
        if not self._state.paused:
            self._state.paused, self._state.paused_at = True, workflow.now()
        self._state.pause_reason = f"{request.reason} (by {request.by})"
        self._show()

    @workflow.signal
    def resume(self) -> None:
        self._state.paused, self._state.pause_reason, self._state.paused_at = False, None, None
        self._woken = True

    @workflow.signal
    def wake(self) -> None:
        self._woken = True

    @workflow.update
    async def approve(self, decision: HoldDecision) -> HoldDecisionResult:
        return await self._decide(decision, approve=True)

    @workflow.update
    async def reject(self, decision: HoldDecision) -> HoldDecisionResult:
        return await self._decide(decision, approve=False)

    @approve.validator
    def _check_approve(self, decision: HoldDecision) -> None:
        _check_decision(decision)

    @reject.validator
    def _check_reject(self, decision: HoldDecision) -> None:
        _check_decision(decision)

    async def _decide(self, decision: HoldDecision, *, approve: bool) -> HoldDecisionResult:
        result = await workflow.execute_activity_method(
            GateActivities.decide_holds,
            HoldDecisionRequest(shop=self._state.shop, approve=approve, **decision.model_dump()),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=self._state.max_retry_interval_s)),
        )
        self._woken = True
        return result

    @workflow.update
    async def revert(self, request: RevertRequest) -> RevertResult:
        """Undo applied reconciliation corrections (by hold ids or a whole run); the opposite changes
        are written by the next pass, which this starts."""
        result = await workflow.execute_activity_method(
            GateActivities.revert_corrections,
            request.model_copy(update={"shop": self._state.shop}),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=self._state.max_retry_interval_s)),
        )
        self._woken = True
        return result

    @revert.validator
    def _check_revert(self, request: RevertRequest) -> None:
        if not request.hold_ids and not request.effect_ids and request.run_id is None:
            raise ValueError("name the corrections (hold or effect ids) or a reconciliation run")
        ids = [
            *request.hold_ids,
            *request.effect_ids,
            *([request.run_id] if request.run_id is not None else []),
        ]
        if any(i <= 0 for i in ids):
            raise ValueError("hold, effect and run ids are positive integers")
        if not request.by.strip():
            raise ValueError("say who reverts (by)")

    @workflow.query
    def status(self) -> GateStatus:
        s = self._state
        return GateStatus(
            shop=s.shop,
            paused=s.paused,
            pause_reason=s.pause_reason,
            paused_at=s.paused_at,
            passes=s.passes,
            effects_applied=s.effects_applied,
            last_pass_at=s.last_pass_at,
            in_pass=self._in_pass,
        )


def _check_decision(decision: HoldDecision) -> None:
    if not decision.hold_ids:
        raise ValueError("name at least one hold")
    if any(i <= 0 for i in decision.hold_ids):
        raise ValueError("hold ids are positive integers")
    if not decision.by.strip():
        raise ValueError("say who decides (by)")
