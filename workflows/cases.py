"""Case workflows (ARCHITECTURE §4.3): one per real-world slow case, with a deterministic id.

Each is the same small loop: evaluate the case from its evidence in the ledger (an activity calling
the pure rules of reconciler.cases), show where it stands (search attributes, details), then sleep
until the next business deadline or until new evidence arrives. Evidence is reloaded at every wake,
so evidence seen twice, out of order or after the case closed changes nothing."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from reconciler.messages import CaseInput, CaseStatus, EvaluateRequest, RemovalReceipt
    from workflows.search_attributes import CASE_STATE, SKU

HEARTBEAT = timedelta(seconds=15)
EVALUATIONS_PER_RUN = 500


class _CaseLoop:
    """The loop every case workflow runs; subclasses add their people's handlers."""

    def __init__(self) -> None:
        self._woken = False
        self._status: CaseStatus | None = None
        self._receipts: list[RemovalReceipt] = []

    async def _run(self, case: CaseInput) -> CaseStatus:
        retry = RetryPolicy(maximum_interval=timedelta(seconds=case.max_retry_interval_s))
        for _ in range(EVALUATIONS_PER_RUN):
            while self._receipts:
                receipt = self._receipts.pop(0)
                await workflow.execute_activity_method(
                    CaseActivities.record_receipt,
                    args=[case.account, receipt, case.clock.business_at(workflow.now())],
                    start_to_close_timeout=timedelta(minutes=1),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=retry,
                )
            self._woken = False
            as_of = case.clock.business_at(workflow.now())
            status = await workflow.execute_activity_method(
                CaseActivities.evaluate_case,
                EvaluateRequest(case_id=case.case_id, account=case.account, rules=case.rules, as_of=as_of),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=retry,
                summary="evaluate",
            )
            self._status = status
            workflow.upsert_search_attributes([CASE_STATE.value_set(status.state), SKU.value_set(status.sku)])
            workflow.set_current_details(status.details)
            if status.closed and not self._woken and not self._receipts:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return status
            timeout = None
            if status.next_wake is not None:
                timeout = max(case.clock.real_duration(status.next_wake - as_of), timedelta(seconds=1))
            try:
                await workflow.wait_condition(lambda: self._woken or bool(self._receipts), timeout=timeout)
            except TimeoutError:
                pass  # a deadline passed: evaluate again
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(case)

    @workflow.signal
    def evidence_added(self) -> None:
        """New evidence is in the ledger (the cycle tells; telling twice is harmless)."""
        self._woken = True

    @workflow.query
    def state(self) -> CaseStatus | None:
        return self._status


@workflow.defn
class CustomerReturnWorkflow(_CaseLoop):
    """From a refund to Amazon's grade; a claim when money is owed and does not come."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        return await self._run(case)


@workflow.defn
class LostUnitsWorkflow(_CaseLoop):
    """An FNSKU's open loss account: lost, found, reimbursed; a claim for units neither found nor paid."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        return await self._run(case)


@workflow.defn
class RemovalOrderWorkflow(_CaseLoop):
    """Units on their way back from Amazon: incoming at the warehouse until a person confirms receipt."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        return await self._run(case)

    @workflow.signal
    def receive(self, receipt: RemovalReceipt) -> None:
        self._receipts.append(receipt)


@workflow.defn
class InboundShipmentWorkflow(_CaseLoop):
    """A shipment to FBA: units leave the warehouse, FBA receives them, a shortage waits for money."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        return await self._run(case)


CASE_WORKFLOWS = {
    "return": CustomerReturnWorkflow,
    "lost": LostUnitsWorkflow,
    "removal": RemovalOrderWorkflow,
    "inbound": InboundShipmentWorkflow,
}
