"""The watchdog on the dev server against a real SQLite ledger and a real paused gate: every kind raised
once per episode, nothing new while the episodes last, a new alert after a recovery and a relapse. And
the `watchdog` schedule that `schedules apply` creates."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError

from ops import control
from reconciler.config import Settings
from reconciler.ledger.tables import Alert, CycleRun, DiscrepancyRecord, ReconciliationRun
from reconciler.messages import WatchdogInput, WatchdogReport
from tests.harness import SandboxEnv, eventually, item, small_scenario
from workflows.watchdog import WatchdogWorkflow

KINDS = ["credential_rotation", "failing_cycles", "paused_too_long", "stale_sync", "sustained_discrepancy"]


def watched(settings: Settings) -> Settings:
    """Thresholds a test can cross without waiting: the stale window is 60 real seconds (30 business
    days of 2 s), a pause is too long after 1 s, and the LWA secret is due in 10 days."""
    alerts = settings.alerts.model_copy(
        update={
            "stale_sync_days": 30,
            "paused_too_long_hours": 1 / 3600,
            "failing_cycles": 3,
            "sustained_runs": 3,
        }
    )
    rotated = datetime.now(UTC).date() - timedelta(days=170)
    accounts = [a.model_copy(update={"lwa_secret_rotated_on": rotated}) for a in settings.accounts]
    return settings.model_copy(update={"alerts": alerts, "accounts": accounts})


async def look(env: SandboxEnv) -> WatchdogReport:
    return await env.execute(
        WatchdogWorkflow.run, WatchdogInput(max_retry_interval_s=1), WatchdogReport, "watchdog"
    )


def add_cycle(env: SandboxEnv, *, ok: bool, ago_s: float) -> None:
    finished = datetime.now(UTC) - timedelta(seconds=ago_s)
    summary = json.dumps({"stream": "ledger", "status": "ok" if ok else "fatal"})
    with Session(env.engine) as s, s.begin():
        s.add(
            CycleRun(
                account=env.account,
                workflow_id="sync-cycle:us",
                run_id=uuid.uuid4().hex,
                started_at=finished - timedelta(seconds=5),
                finished_at=finished,
                ok=ok,
                summary=summary,
            )
        )


def add_run(
    env: SandboxEnv, differences: dict[str, int], *, state: str = "compared", finished: bool = True
) -> int:
    with Session(env.engine) as s, s.begin():
        run = ReconciliationRun(
            account=env.account, state=state, finished_at=datetime.now(UTC) if finished else None
        )
        s.add(run)
        s.flush()
        assert run.id is not None
        for sku, d in differences.items():
            s.add(
                DiscrepancyRecord(
                    run_id=run.id,
                    account=env.account,
                    sku=sku,
                    name="available",
                    amazon=10,
                    shopify=10 + d,
                    expected_shopify=10,
                    difference=d,
                )
            )
        return run.id


def alerts(env: SandboxEnv) -> list[Alert]:
    with Session(env.engine) as s:
        return list(s.exec(select(Alert).order_by(col(Alert.id))).all())


async def pause_for_over_a_second(env: SandboxEnv, reason: str) -> None:
    await control.pause(env.client, env.shop, reason, by="carol")

    async def paused_long_enough() -> bool:
        status = await control.gate_status(env.client, env.shop)
        return status.paused_at is not None and datetime.now(UTC) - status.paused_at > timedelta(seconds=1.5)

    await eventually(paused_long_enough, what="the gate paused for over a second")


async def test_watchdog_alerts_once_per_episode_and_again_after_a_recovery(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("MUG"), item("CUP")]), tmp_path) as env:
        env.settings = watched(env.settings)
        async with env.make_worker():
            await env.start_gate()
            # The last successful cycle ended 2 minutes ago; the three since failed.
            add_cycle(env, ok=True, ago_s=120)
            for ago in (90, 60, 30):
                add_cycle(env, ok=False, ago_s=ago)
            # MUG differed in three finished runs; a newer shadow preview and an unfinished run don't count.
            for d in (-2, -2, -3):
                add_run(env, {"MUG": d, "CUP": 1} if d == -2 else {"MUG": d})
            add_run(env, {}, state="previewed")
            add_run(env, {}, state="started", finished=False)
            await pause_for_over_a_second(env, "stocktake")

            report = await look(env)
            assert report.raised == dict.fromkeys(KINDS, 1), report
            assert report.gates_unreachable == [] and report.accounts == 1 and report.shops == 1
            by_kind = {a.kind: a for a in alerts(env)}
            assert sorted(by_kind) == KINDS
            assert "the ledger report failed (FATAL)" in by_kind["failing_cycles"].message
            assert "stocktake (by carol)" in by_kind["paused_too_long"].message
            assert "MUG fba.available" in by_kind["sustained_discrepancy"].message
            assert "CUP" not in by_kind["sustained_discrepancy"].message
            assert "must be rotated by" in by_kind["credential_rotation"].message
            assert by_kind["stale_sync"].account == "us" and by_kind["paused_too_long"].account is None

            # The same situations, looked at again: nothing new.
            again = await look(env)
            assert again.raised == {} and again.lasting == len(KINDS), again
            assert len(alerts(env)) == len(KINDS)

            # Each recovers, then relapses: a new episode each, so a new alert each (not the rotation:
            # the secret is still due soon, the same episode).
            add_cycle(env, ok=True, ago_s=80)  # a success, then an outage again, and failures after it
            for ago in (75, 70, 65):
                add_cycle(env, ok=False, ago_s=ago)
            add_run(env, {})  # a clean run, then a new streak
            for _ in range(3):
                add_run(env, {"MUG": -1})
            await control.resume(env.client, env.shop)
            await pause_for_over_a_second(env, "second count")

            relapse = await look(env)
            assert relapse.raised == {k: 1 for k in KINDS if k != "credential_rotation"}, relapse
            assert relapse.lasting == 1
            assert len(alerts(env)) == 2 * len(KINDS) - 1
            newest_pause = [a for a in alerts(env) if a.kind == "paused_too_long"][-1]
            assert "second count (by carol)" in newest_pause.message


async def test_a_gate_that_does_not_answer_is_reported_not_judged(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("MUG")]), tmp_path) as env:
        env.settings = watched(env.settings)
        async with env.make_worker():  # no gate started
            report = await look(env)
        assert report.gates_unreachable == [env.shop]
        assert report.raised == {"credential_rotation": 1}, (
            "no cycle, no run: only the rotation date is judged"
        )


async def test_schedules_apply_creates_the_watchdog_schedule(temporal_client: Client, tmp_path: Path) -> None:
    account = f"wd{uuid.uuid4().hex[:6]}"
    settings = Settings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        temporal={"task_queue": f"tq-{account}"},
        alerts={"watchdog_minutes": 20},
        shops=[{"name": "main", "domain": "x.myshopify.com", "access_token_env": "T"}],
        accounts=[{"name": account, "shop": "main", "fba_location": "Amazon FBA US"}],
    )
    ids = [control.schedule_id(account), f"reconcile:{account}", control.WATCHDOG_SCHEDULE]

    async def delete_all() -> None:
        for sid in ids:
            try:
                await temporal_client.get_schedule_handle(sid).delete()
            except RPCError:
                pass  # not there (the watchdog may be left by an earlier test's `schedules apply`)

    await delete_all()
    try:
        done = await control.apply_schedules(temporal_client, settings)
        assert "watchdog: created (every 0:20:00)" in done, done
        again = await control.apply_schedules(temporal_client, settings)
        assert "watchdog: updated (every 0:20:00)" in again, again
        described = await temporal_client.get_schedule_handle("watchdog").describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "WatchdogWorkflow" and action.id == "watchdog"
        assert action.task_queue == f"tq-{account}"
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(minutes=20)]
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    finally:
        await delete_all()
