"""starter.py as an operator runs it: a subprocess with a TOML file, against the session's dev server, a
worker on a fresh task queue and the simulators. Exit codes: 0 done, 1 failed, 2 bad usage/config."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from ops import control
from reconciler.ledger.tables import CycleRun, QuarantinedInput
from sandbox.temporal_server import DevServer
from tests.harness import SECRETS, SandboxEnv, eventually, item, small_scenario

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON_CMD = str(PYTHON) if PYTHON.exists() else sys.executable
SUBCOMMANDS = [
    "cases",
    "removal",
    "demo",
    "schedules",
    "sync-now",
    "pause",
    "resume",
    "holds",
    "approve",
    "reject",
    "status",
    "quarantine",
    "alerts",
    "reconcile",
    "revert",
    "onboard",
    "log",
    "report",
    "claims",
]


def starter_env() -> dict[str, str]:
    """The operator's environment: secrets by the names the config gives, no stray RECON_… values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECON_")}
    return {**env, **SECRETS, "PYTHONUNBUFFERED": "1"}


def run_starter(*args: str) -> subprocess.CompletedProcess[str]:
    """For commands that need no service running in this process."""
    return subprocess.run(
        [PYTHON_CMD, "starter.py", *args],
        cwd=REPO,
        env=starter_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"


async def starter(config: Path, *args: str, json_output: bool = False) -> Result:
    """Without blocking the event loop: the worker and the simulators run in it."""
    flags = ["--config", str(config), *(["--json"] if json_output else [])]
    proc = await asyncio.create_subprocess_exec(
        PYTHON_CMD,
        "starter.py",
        *flags,
        *args,
        cwd=REPO,
        env=starter_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def toml_value(v: Any) -> str:
    return json.dumps(v)  # strings, numbers and booleans are written the same in TOML


def service_config(env: SandboxEnv, dev_server: DevServer) -> str:
    """The SandboxEnv's settings as the TOML file an operator would write."""
    s = env.settings
    shop, account = s.shops[0], s.accounts[0]
    top = {
        "ledger_url": s.ledger_url,
        "cycle_interval_minutes": 24 * 60,  # never on its own during the test: only sync-now
        "gate_poll_seconds": s.gate_poll_seconds,
        "activity_max_retry_interval_s": s.activity_max_retry_interval_s,
        "http_timeout_s": s.http_timeout_s,
    }
    tables: list[tuple[str, dict[str, Any]]] = [
        ("[temporal]", {"address": dev_server.address, "task_queue": s.temporal.task_queue}),
        ("[clock]", s.clock.model_dump(mode="json")),
        ("[[shops]]", shop.model_dump(mode="json", exclude_none=True)),
        ("[[accounts]]", account.model_dump(mode="json", exclude_none=True, exclude={"rules", "sku_map"})),
        ("[accounts.rules]", account.rules.model_dump(mode="json", exclude_none=True)),
    ]
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    for header, values in tables:
        lines += ["", header, *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


# --- no service needed -------------------------------------------------------------------------------


def test_help_lists_every_subcommand() -> None:
    result = run_starter("--help")
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert name in result.stdout, name
    assert "Exit codes" in result.stdout
    for name in ("schedules", "approve", "quarantine", "revert", "onboard", "log", "report", "claims"):
        sub = run_starter(name, "--help")
        assert sub.returncode == 0 and "usage: starter.py" in sub.stdout, sub.stderr


def test_missing_config_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    result = run_starter("--config", str(tmp_path / "nowhere.toml"), "status")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"starter: config file {tmp_path / 'nowhere.toml'} not found (set RECON_CONFIG or pass --config)"
    ]
    assert result.stdout == ""


def test_invalid_toml_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    bad = tmp_path / "recon.toml"
    bad.write_text("[temporal\naddress = 1\n")
    result = run_starter("--config", str(bad), "holds", "list")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"starter: {bad}: not valid TOML"), result.stderr


def test_invalid_config_exits_2_naming_each_problem_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "recon.toml"
    bad.write_text(
        'ledger_url = "mysql://x"\n\n[[shops]]\nname = "main"\ndomain = "x.myshopify.com"\n'
        'access_token_env = "T"\n\n[[accounts]]\nname = "us"\nshop = "other"\nfba_location = "F"\n'
    )
    result = run_starter("--config", str(bad), "status")
    assert result.returncode == 2, result
    first, *problems = result.stderr.strip().splitlines()
    assert first == f"starter: {bad}: 2 problem(s):"
    assert [p.split(":")[0] for p in problems] == ["  - ledger_url", "  - accounts.0.shop"]
    assert "Traceback" not in result.stderr


TWO_SHOPS = """
[[shops]]
name = "main"
domain = "main.myshopify.com"
access_token_env = "T"

[[shops]]
name = "outlet"
domain = "outlet.myshopify.com"
access_token_env = "T"

[[accounts]]
name = "us"
shop = "main"
fba_location = "Amazon FBA US"
"""


def test_unknown_shop_exits_2_naming_the_configured_ones(tmp_path: Path) -> None:
    config = tmp_path / "recon.toml"
    config.write_text(TWO_SHOPS)
    result = run_starter("--config", str(config), "pause", "--reason", "x", "--shop", "nope")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "starter: no shop named 'nope'; configured: ['main', 'outlet']"


def test_several_shops_without_shop_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "recon.toml"
    config.write_text(TWO_SHOPS)
    result = run_starter("--config", str(config), "resume")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("starter: several shops are configured")


def test_bad_usage_exits_2() -> None:
    assert run_starter("approve", "--by", "alice").returncode == 2, "no hold id"
    assert run_starter("schedules", "delete").returncode == 2
    assert run_starter("frobnicate").returncode == 2


# --- against a running service -----------------------------------------------------------------------


async def test_operator_commands_against_a_running_service(
    temporal_client: Client, dev_server: DevServer, tmp_path: Path
) -> None:
    scenario = small_scenario([item("MUG", fba=100), item("LAMP", fba=100)])
    rules = {"large_delta_units": 5, "large_delta_pct": 10}
    async with SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.8, rules=rules) as env:
        config = tmp_path / "recon.toml"
        config.write_text(service_config(env, dev_server))
        schedule = temporal_client.get_schedule_handle(control.schedule_id(env.account))
        try:
            await schedule.delete()  # left by an earlier test in this session, if any
        except RPCError:
            pass
        try:
            async with env.make_worker():
                await _operate(env, config, temporal_client)
        finally:
            try:
                await schedule.delete()
            except RPCError:
                pass


async def _operate(env: SandboxEnv, config: Path, client: Client) -> None:
    # schedules apply: idempotent, and it starts the shop's gate.
    first = await starter(config, "schedules", "apply")
    assert first.code == 0, first
    assert "sync:us: created" in first.out, first
    again = await starter(config, "schedules", "apply")
    assert again.code == 0 and "sync:us: updated" in again.out, again
    await control.gate_status(client, env.shop)  # the gate answers

    async def listed() -> bool:
        r = await starter(config, "schedules", "list", json_output=True)
        assert r.code == 0, r
        return "sync:us" in [s["id"] for s in r.json()]

    await eventually(listed, what="the schedule in `schedules list`")  # visibility is eventually consistent

    # sync-now: a cycle runs through the schedule.
    r = await starter(config, "sync-now", "--account", "us")
    assert r.code == 0 and "sync cycle triggered for us" in r.out, r

    async def cycle_recorded() -> bool:
        with Session(env.engine) as s:
            return s.exec(select(CycleRun).where(CycleRun.account == "us", CycleRun.ok)).first() is not None

    await eventually(cycle_recorded, timeout=30, what="a CycleRun row")
    r = await starter(config, "sync-now", "--account", "nope")
    assert r.code == 2 and "no account named 'nope'" in r.err, r

    # pause → status shows it with the reason → resume.
    r = await starter(config, "pause", "--reason", "stocktake x", "--by", "test")
    assert r.code == 0 and "paused" in r.out, r
    shown: list[Any] = []

    async def paused_in_status() -> bool:
        r = await starter(config, "status", json_output=True)
        assert r.code == 0, r
        shown[:] = r.json()
        return bool(shown[0]["paused"])

    await eventually(paused_in_status, what="paused in `status`")
    assert shown[0]["account"] == "us" and shown[0]["shop"] == env.shop
    assert "stocktake x" in shown[0]["pause_reason"]
    assert shown[0]["last_successful_cycle"] is not None
    r = await starter(config, "resume")
    assert r.code == 0 and "resumed" in r.out, r
    status = await control.gate_status(client, env.shop)
    assert not status.paused

    # A large effect is held; `holds list` shows it and `approve` applies it.
    effect_id = await env.add_effect("LAMP", -60)
    await control.wake_gate(client, env.settings, env.shop)

    async def held() -> bool:
        return [e.id for e in env.effects("held")] == [effect_id]

    await eventually(held, what="the large effect held")
    hold_id = env.effects("held")[0].hold_id
    r = await starter(config, "holds", "list", json_output=True)
    assert r.code == 0, r
    holds = r.json()
    assert [(h["id"], h["shop"], h["sku"], h["location"], h["delta"]) for h in holds] == [
        (hold_id, env.shop, "LAMP", "fba", -60)
    ]
    assert "more than 5 units" in holds[0]["why"]
    assert env.qty("LAMP") == 100, "nothing written before approval"

    r = await starter(config, "approve", str(hold_id), "--by", "alice", "--note", "counted")
    assert r.code == 0 and f"approved: [{hold_id}]" in r.out, r

    async def applied() -> bool:
        return env.qty("LAMP") == 40

    await eventually(applied, what="the approved effect written to Shopify")
    r = await starter(config, "holds", "list", json_output=True)
    assert r.code == 0 and r.json() == [], r

    r = await starter(config, "approve", "999999", "--by", "alice")
    assert r.code == 1 and "999999" in r.out, r
    assert "approved: none" in r.out

    # quarantine list: what could not be used yet, without its payload.
    r = await starter(config, "quarantine", "list", json_output=True)
    assert r.code == 0 and r.json() == [], r
    with Session(env.engine) as s, s.begin():
        s.add(
            QuarantinedInput(
                account="us", stream="ledger", key="k1", reason="unmapped SKU MUG-9PK", payload='{"x": 1}'
            )
        )
    r = await starter(config, "quarantine", "list", json_output=True)
    assert r.code == 0, r
    rows = r.json()
    assert [(q["account"], q["stream"], q["key"], q["reason"]) for q in rows] == [
        ("us", "ledger", "k1", "unmapped SKU MUG-9PK")
    ]
    assert "payload" not in rows[0]
    r = await starter(config, "status", json_output=True)
    assert r.code == 0, r
    assert {k: r.json()[0][k] for k in ("paused", "holds", "quarantined")} == {
        "paused": False,
        "holds": 0,
        "quarantined": 1,
    }


async def test_removal_receive_and_cases_commands(
    temporal_client: Client, dev_server: DevServer, tmp_path: Path
) -> None:
    """A removal on its way back: `removal receive` moves it into the warehouse; `cases` shows it."""
    from reconciler.evidence import EvidenceIn
    from reconciler.ledger.evidence_store import store_evidence
    from reconciler.ledger.tables import CaseRecord

    async with SandboxEnv(
        temporal_client, small_scenario([item("MUG", fba=100, warehouse=20)]), tmp_path
    ) as env:
        config = tmp_path / "recon.toml"
        config.write_text(service_config(env, dev_server))
        case_id = f"removal:{env.account}:RMV-7"
        at = env.clock.now()
        store_evidence(
            env.engine,
            [
                EvidenceIn(
                    key="d",
                    account=env.account,
                    case_id=case_id,
                    kind="removal_detail",
                    occurred_at=at,
                    quantity=2,
                    stream="test",
                    data={
                        "order_type": "Return",
                        "sku": "MUG",
                        "requested": 2,
                        "shipped": 2,
                        "disposed": 0,
                        "cancelled": 0,
                    },
                ),
                EvidenceIn(
                    key="s",
                    account=env.account,
                    case_id=case_id,
                    kind="removal_shipment",
                    occurred_at=at,
                    quantity=2,
                    stream="test",
                    data={"sku": "MUG", "tracking_number": "1ZCLI", "disposition": "SELLABLE"},
                ),
            ],
            account=env.account,
            stream="test",
        )
        async with env.make_worker():
            await env.start_gate()
            await control.signal_case(temporal_client, env.settings, case_id)
            await eventually(lambda: env.qty("MUG", "warehouse", "incoming") == 2, what="incoming +2")

            listed = await starter(config, "cases", "list", "--type", "removal", json_output=True)
            assert listed.code == 0, listed
            [row] = json.loads(listed.out)
            assert row["case_id"] == case_id and row["state"] == "in_transit", row

            received = await starter(
                config,
                "removal",
                "receive",
                "RMV-7",
                "--sku",
                "MUG",
                "--quantity",
                "2",
                "--tracking",
                "1ZCLI",
                "--by",
                "alice",
            )
            assert received.code == 0, received

            def closed() -> bool:
                with Session(env.engine) as s:
                    record = s.get(CaseRecord, case_id)
                    return record is not None and record.closed

            await eventually(closed, what="the removal case to close")
            await control.wake_gate(temporal_client, env.settings, env.shop)
            await eventually(lambda: env.qty("MUG", "warehouse", "incoming") == 0, what="incoming −2")
            assert env.qty("MUG", "warehouse", "available") == 22

            shown = await starter(config, "cases", "show", case_id, json_output=True)
            assert shown.code == 0, shown
            kinds = [e["kind"] for e in json.loads(shown.out)["evidence"]]
            assert sorted(kinds) == ["removal_detail", "removal_receipt", "removal_shipment"]
            missing = await starter(config, "cases", "show", "removal:us:NOPE")
            assert missing.code == 1 and "no case" in missing.err
            due = await starter(config, "cases", "list", "--claim-due", json_output=True)
            assert due.code == 0 and json.loads(due.out) == []
