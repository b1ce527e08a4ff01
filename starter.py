"""The operator's command line for the FBA ⇄ Shopify reconciler.

Examples:
  python starter.py demo --scenario sandbox/samples/demo-50-skus.json --out result.json
  python starter.py cases list --claim-due      # cases owed money or units past their deadline
  python starter.py removal receive RMV-0001 --sku BAG-BLK --quantity 6
  python starter.py schedules apply            # sync, daily reconciliation, monthly report, watchdog
  python starter.py sync-now --account us      # run a cycle now (through the schedule)
  python starter.py pause --shop main --reason "stocktake"
  python starter.py holds list
  python starter.py approve 12 13 --by alice --note "checked with the warehouse"
  python starter.py status                     # per account: cycles, pause, holds, cases, claims due, alerts
  python starter.py log --sku MUG --since 2026-03-01 --format csv --out mug.csv
  python starter.py report --month 2026-03     # finance report: CSV + Markdown in reports_dir
  python starter.py claims export --out claims.csv
  python starter.py reconcile --account us     # full reconciliation: differences held for approval
  python starter.py onboard --account us --create-location   # checks, then a preview that writes nothing
  python starter.py onboard --account us --confirm           # set the baseline (held corrections)
  python starter.py revert 41 42 --by alice    # undo applied corrections (or --run 7 for a whole run)
  python starter.py quarantine list
  python starter.py alerts list --since 48 --kind claim_due

Exit codes: 0 done, 1 the operation failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from reconciler.config import load_settings

    return load_settings(args.config)


async def _client(settings):  # type: ignore[no-untyped-def]
    from ops.temporal import connect

    return await connect(settings)


def _shop(settings, name: str | None) -> str:  # type: ignore[no-untyped-def]
    if name:
        settings.shop(name)
        return name
    if len(settings.shops) != 1:
        from reconciler.config import ConfigError

        raise ConfigError(f"several shops are configured ({[s.name for s in settings.shops]}): pass --shop")
    return settings.shops[0].name


def _print(args: argparse.Namespace, data: Any, table: Table | None = None) -> None:
    if args.json or table is None:
        print(json.dumps(data, indent=1, default=str))
    else:
        console.print(table)


# --- commands -----------------------------------------------------------------------------------------


async def cmd_demo(args: argparse.Namespace) -> int:
    from ops import logs
    from sandbox.runner import ScenarioError, run_demo

    logs.setup("WARNING")
    try:
        await run_demo(
            args.scenario,
            args.out,
            day_seconds=args.day_seconds,
            seed=args.seed,
            ui_port=args.ui_port,
            workdir=args.workdir,
            linger_s=args.linger,
        )
    except ScenarioError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 2
    return 0


async def cmd_schedules(args: argparse.Namespace) -> int:
    from ops import control
    from ops.temporal import ensure_search_attributes

    settings = _settings(args)
    client = await _client(settings)
    if args.action == "apply":
        await ensure_search_attributes(client)
        for line in await control.apply_schedules(client, settings):
            print(line)
        for shop in settings.shops:
            await control.ensure_gate(client, settings, shop.name)
        return 0
    rows = []
    async for s in await client.list_schedules():
        rows.append(
            {
                "id": s.id,
                "next": [str(t) for t in (s.info.next_action_times[:1] if s.info else [])],
                "recent": [str(a.started_at) for a in (s.info.recent_actions[-1:] if s.info else [])],
            }
        )
    table = Table("schedule", "next run", "last run")
    for r in rows:
        table.add_row(r["id"], ", ".join(r["next"]), ", ".join(r["recent"]))
    _print(args, rows, table)
    return 0


async def cmd_sync_now(args: argparse.Namespace) -> int:
    from ops import control

    settings = _settings(args)
    accounts = [args.account] if args.account else [a.name for a in settings.accounts]
    client = await _client(settings)
    for a in accounts:
        settings.account(a)
        await control.sync_now(client, a)
        print(f"sync cycle triggered for {a}")
    return 0


async def cmd_pause(args: argparse.Namespace) -> int:
    from ops import control

    settings = _settings(args)
    shop = _shop(settings, args.shop)
    await control.pause(await _client(settings), shop, args.reason, by=args.by)
    print(f"gate of {shop} paused: nothing is written to Shopify until resumed; effects queue")
    return 0


async def cmd_resume(args: argparse.Namespace) -> int:
    from ops import control

    settings = _settings(args)
    shop = _shop(settings, args.shop)
    await control.resume(await _client(settings), shop)
    print(f"gate of {shop} resumed")
    return 0


async def cmd_holds(args: argparse.Namespace) -> int:
    from reconciler.ledger.db import make_engine
    from reconciler.ledger.gate_store import open_holds

    settings = _settings(args)
    rows = [
        {
            "id": h.id,
            "shop": h.shop,
            "kind": h.kind,
            "sku": e.shopify_sku if e else None,
            "location": e.location if e else None,
            "name": e.name if e else None,
            "delta": e.delta if e else None,
            "why": h.why,
            "since": h.created_at,
        }
        for h, e in open_holds(make_engine(settings.ledger_url), args.shop)
    ]
    table = Table("id", "kind", "sku", "location", "name", "delta", "why")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["kind"],
            str(r["sku"]),
            str(r["location"]),
            str(r["name"]),
            str(r["delta"]),
            r["why"],
        )
    _print(args, rows, table)
    return 0


async def cmd_decide(args: argparse.Namespace, approve: bool) -> int:
    from ops import control
    from reconciler.messages import HoldDecision

    settings = _settings(args)
    shop = _shop(settings, args.shop)
    result = await control.decide(
        await _client(settings),
        shop,
        HoldDecision(hold_ids=args.hold_ids, by=args.by, note=args.note),
        approve=approve,
    )
    verb = "approved" if approve else "rejected"
    print(
        f"{verb}: {result.resolved or 'none'}; not open (unknown, decided already or another shop's): "
        f"{result.not_open or 'none'}"
    )
    return 0 if not result.not_open else 1


async def cmd_revert(args: argparse.Namespace) -> int:
    """Undo applied reconciliation corrections: the gate writes the opposite changes."""
    from ops import control
    from reconciler.config import ConfigError
    from reconciler.messages import RevertRequest

    if not args.hold_ids and not args.effect and args.run is None:
        raise ConfigError(
            "name the corrections' hold ids, --effect ID (as `starter.py log --kind correction` shows), "
            "or --run N for every correction of run N"
        )
    settings = _settings(args)
    client = await _client(settings)
    result = await control.revert(
        client,
        _shop(settings, args.shop),
        RevertRequest(
            hold_ids=args.hold_ids, effect_ids=args.effect or [], run_id=args.run, by=args.by, note=args.note
        ),
    )
    if args.json:
        print(result.model_dump_json(indent=1))
    else:
        print(f"reverted: {result.reverted or 'none'}; late rows released to flow again: {result.released}")
        for hold_id, why in result.refused.items():
            print(f"  not reverted{f' (hold {hold_id})' if hold_id > 0 else ''}: {why}")
    return 0 if not result.refused else 1


def _day(value: str) -> date:
    """A --since/--until date: YYYY-MM-DD."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _month(value: str) -> str:
    """A --month: YYYY-MM."""
    import re

    from reconciler.finance import MONTH_PATTERN

    if not re.match(MONTH_PATTERN, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a month (YYYY-MM)")
    return value


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else "never"


async def cmd_status(args: argparse.Namespace) -> int:
    from datetime import UTC

    from ops.status_view import AccountStatus, account_statuses
    from reconciler.ledger.reading import reading_engine

    settings = _settings(args)
    accounts = [settings.account(args.account)] if args.account else settings.accounts
    try:
        client = await asyncio.wait_for(_client(settings), timeout=15)
    except Exception as e:  # the ledger still answers: say so and show it
        print(
            f"starter: Temporal at {settings.temporal.address} did not answer ({type(e).__name__}); "
            "the gate's pause is unknown",
            file=sys.stderr,
        )
        client = None
    statuses = await account_statuses(
        reading_engine(settings.ledger_url), settings, client, datetime.now(UTC), accounts
    )
    table = Table("", *(f"{s.account} → {s.shop}" for s in statuses))

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"

    def paused(s: AccountStatus) -> str:
        if s.paused is None:
            return "unknown (gate not running)" if s.gate == "not running" else f"unknown ({s.gate})"
        if not s.paused:
            return "no"
        return f"[red]yes[/red] since {_when(s.paused_since)}: {s.pause_reason}"

    def claims(s: AccountStatus) -> str:
        if not s.claims_due:
            return "none"
        value = ", ".join(f"{v:,.2f} {c}" for c, v in s.claims_due_value.items())
        unknown = f"{s.claims_due_unvalued} of unknown value" if s.claims_due_unvalued else ""
        return f"[yellow]{s.claims_due}[/yellow] ({s.claims_due_units} units; " + (
            "; ".join(filter(None, [value, unknown])) + ")"
        )

    rows: list[tuple[str, Callable[[AccountStatus], str]]] = [
        ("last successful cycle", lambda s: _when(s.last_successful_cycle)),
        (
            "failing cycles in a row",
            lambda s: (
                f"[red]{s.failing_cycles_in_a_row}[/red] (last {_when(s.last_failed_cycle)})"
                if s.failing_cycles_in_a_row
                else "0"
            ),
        ),
        ("paused", paused),
        ("open holds", lambda s: str(s.holds)),
        ("pending effects", lambda s: str(s.pending_effects)),
        ("open cases", lambda s: counts(s.open_cases)),
        ("claims due", claims),
        ("quarantined rows", lambda s: str(s.quarantined)),
        (
            "alerts, last 24 h",
            lambda s: f"{s.alerts_last_day} ({counts(s.alert_kinds)})" if s.alerts_last_day else "0",
        ),
    ]
    for label, show in rows:
        table.add_row(label, *(show(s) for s in statuses))
    _print(args, [s.model_dump(mode="json") for s in statuses], table)
    return 0


async def cmd_log(args: argparse.Namespace) -> int:
    """The reconciliation log: every applied effect with its source rows, as a table, CSV or JSON."""
    from ops.effect_log import LogFilter, count_entries, iter_entries, source_words, write_csv, write_json
    from reconciler.ledger.reading import reading_engine

    settings = _settings(args)
    if args.account:
        settings.account(args.account)
    fmt = "json" if args.json else args.format
    # A table on the terminal shows the latest 100 unless told; files and CSV/JSON get everything.
    limit = args.limit if args.limit is not None else (100 if fmt == "table" and not args.out else 0)
    flt = LogFilter(args.account, args.sku, args.kind, args.since, args.until, limit or None)
    engine = reading_engine(settings.ledger_url)
    entries = iter_entries(engine, flt)
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115 (closed below)
    try:
        if fmt == "csv":
            n = write_csv(entries, out)
        elif fmt == "json":
            n = write_json(entries, out)
        else:
            table = Table(
                "date", "effect", "kind", "SKU (MSKU)", "location.name", "delta", "after", "source rows"
            )
            n = 0
            for e in entries:
                table.add_row(
                    e.date.isoformat() if e.date else "",
                    str(e.effect_id),
                    e.kind,
                    e.sku if e.sku == e.msku else f"{e.sku} ({e.msku})",
                    f"{e.location}.{e.name}",
                    f"{e.delta:+d}",
                    "" if e.quantity_after is None else str(e.quantity_after),
                    source_words(e),
                )
                n += 1
            Console(file=out, width=200 if args.out else None).print(table)
            if limit and n == limit and not args.out:
                total = count_entries(engine, flt)
                if total > n:
                    print(
                        f"the latest {n} of {total} applied effects; --limit 0 for all, --format csv "
                        "--out FILE for a file",
                        file=sys.stderr,
                    )
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"{n} applied effect(s) written to {args.out}")
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    """The monthly finance report of each account (or one), built by MonthlyReportWorkflow."""
    from ops import control
    from reconciler.finance import FinanceReportSummary, previous_month

    settings = _settings(args)
    accounts = [settings.account(args.account).name] if args.account else [a.name for a in settings.accounts]
    month = args.month or previous_month(settings.clock.now().date())
    inputs = [control.finance_report_input(settings, a, month) for a in accounts]  # validated first
    client = await _client(settings)
    summaries: list[FinanceReportSummary] = []
    for inp in inputs:
        handle = await control.start_finance_report(client, settings, inp.account, month)
        print(
            f"finance report {handle.id} started (Temporal UI: {settings.temporal.ui_url})", file=sys.stderr
        )
        result = asyncio.ensure_future(handle.result())
        while not result.done():
            await asyncio.wait([result], timeout=30)
            if not result.done():
                print(
                    f"  still waiting: is a worker running on task queue {settings.temporal.task_queue}?",
                    file=sys.stderr,
                )
        summaries.append(result.result())
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=1))
        return 0
    for s in summaries:
        money = ", ".join(f"{v:,.2f} {c}" for c, v in s.reimbursed_amounts.items())
        owed = ", ".join(f"{v:,.2f} {c}" for c, v in s.claims_due_value.items())
        print(
            f"{s.account} {s.month}: {s.effects_applied} effects applied ({s.units_in} units in, "
            f"{s.units_out} out); lost {s.lost_units}, found {s.found_units}; reimbursed "
            f"{s.reimbursed_units} units{f' ({money})' if money else ''}; {s.claims_due} claim(s) due "
            f"({s.claims_due_units} units{f', {owed}' if owed else ''})"
        )
        print(f"  Report: {s.md_path}")
        print(f"  CSV:    {s.csv_path}")
    return 0


async def cmd_claims(args: argparse.Namespace) -> int:
    """Claims due as CSV (or JSON with --json), on stdout or into --out."""
    from ops.claims_export import claims_due, write_csv, write_json
    from reconciler.ledger.reading import reading_engine

    settings = _settings(args)
    rows = claims_due(reading_engine(settings.ledger_url), settings, args.account)
    write = write_json if args.json else write_csv
    if not args.out:
        write(rows, sys.stdout)
        return 0
    with open(args.out, "w", newline="") as f:
        write(rows, f)
    print(f"{len(rows)} claim(s) due written to {args.out}")
    return 0


async def cmd_quarantine(args: argparse.Namespace) -> int:
    from sqlmodel import Session, col, select

    from reconciler.ledger.db import make_engine
    from reconciler.ledger.tables import QuarantinedInput

    settings = _settings(args)
    engine = make_engine(settings.ledger_url)
    if args.action == "list":
        with Session(engine) as s:
            rows = [
                q.model_dump(exclude={"payload"})
                for q in s.exec(
                    select(QuarantinedInput)
                    .where(QuarantinedInput.state == "open")
                    .order_by(col(QuarantinedInput.id))
                )
            ]
        table = Table("id", "account", "stream", "key", "reason", "since")
        for r in rows:
            table.add_row(
                str(r["id"]), r["account"], r["stream"], r["key"], r["reason"], str(r["created_at"])
            )
        _print(args, rows, table)
        return 0
    from activities.clients import Clients
    from activities.sync import reprocess_quarantined

    clients = Clients(settings, shopify_timeout_s=settings.http_timeout_s)
    try:
        for a in settings.accounts if not args.account else [settings.account(args.account)]:
            result = await reprocess_quarantined(engine, clients, a.name, a.rules)
            print(
                f"{a.name}: {result.effects} effects created from quarantined rows; "
                f"{result.quarantined} still quarantined"
            )
    finally:
        await clients.aclose()
    print("run `starter.py sync-now` (or wait for the next cycle) to write them")
    return 0


async def cmd_reconcile(args: argparse.Namespace) -> int:
    """Start a full reconciliation, show its progress, end with its summary and report path."""
    from ops import control
    from reconciler.messages import ReconcileSummary

    settings = _settings(args)
    account = args.account or (settings.accounts[0].name if len(settings.accounts) == 1 else None)
    if account is None:
        from reconciler.config import ConfigError

        raise ConfigError(
            f"several accounts are configured ({[a.name for a in settings.accounts]}): pass --account"
        )
    settings.account(account)
    client = await _client(settings)
    handle = await control.start_reconciliation(client, settings, account)
    print(f"full reconciliation {handle.id} started (Temporal UI: {settings.temporal.ui_url})", flush=True)
    result_task = asyncio.ensure_future(handle.result())
    shown = ""
    while not result_task.done():
        await asyncio.wait([result_task], timeout=2)
        try:
            progress = await handle.query("progress")
        except Exception:
            continue
        if progress != shown:
            print(f"  {progress}", flush=True)
            shown = progress
    summary: ReconcileSummary = result_task.result()
    if args.json:
        print(summary.model_dump_json(indent=1))
    else:
        print(
            f"{summary.amazon_rows} Amazon rows and {summary.shopify_rows} Shopify levels compared: "
            f"{summary.discrepancies} differences, {summary.corrections_held} corrections held for approval "
            "(`starter.py holds list`)."
        )
        print(f"Report: {summary.report_md} (CSV: {summary.report_csv})")
    return 0


async def cmd_cases(args: argparse.Namespace) -> int:
    from sqlmodel import Session, col, select

    from reconciler.ledger.db import make_engine
    from reconciler.ledger.evidence_store import case_evidence
    from reconciler.ledger.tables import CaseRecord

    settings = _settings(args)
    engine = make_engine(settings.ledger_url)
    if args.action == "show":
        with Session(engine) as s:
            record = s.get(CaseRecord, args.case_id)
        if record is None:
            print(f"starter: no case {args.case_id!r} (see `starter.py cases list`)", file=sys.stderr)
            return 1
        evidence = [
            {
                "kind": e.kind,
                "key": e.key,
                "occurred_at": e.occurred_at,
                "quantity": e.quantity,
                "data": json.loads(e.data),
            }
            for e in case_evidence(engine, args.case_id)
        ]
        data = {**record.model_dump(), "evidence": evidence}
        if args.json:
            print(json.dumps(data, indent=1, default=str))
        else:
            console.print(
                f"[bold]{record.case_id}[/bold]  {record.state}"
                + ("  [red]claim due[/red]" if record.claim_due else "")
            )
            console.print(record.details)
            table = Table("occurred", "kind", "quantity", "data")
            for e in evidence:
                table.add_row(str(e["occurred_at"]), e["kind"], str(e["quantity"]), json.dumps(e["data"]))
            console.print(table)
        return 0
    with Session(engine) as s:
        stmt = select(CaseRecord).order_by(col(CaseRecord.case_id))
        if args.type:
            stmt = stmt.where(CaseRecord.case_type == args.type)
        if args.state:
            stmt = stmt.where(CaseRecord.state == args.state)
        if args.claim_due:
            stmt = stmt.where(col(CaseRecord.claim_due).is_(True))
        rows = [r.model_dump() for r in s.exec(stmt).all()]
    table = Table("case", "state", "claim due", "owed units", "deadline", "details")
    for r in rows:
        table.add_row(
            r["case_id"],
            r["state"],
            "yes" if r["claim_due"] else "",
            str(r["owed_units"] or ""),
            str(r["claim_deadline"] or ""),
            r["details"],
        )
    _print(args, rows, table)
    return 0


async def cmd_removal(args: argparse.Namespace) -> int:
    import uuid

    from ops import control
    from reconciler.messages import RemovalReceipt

    settings = _settings(args)
    account = args.account or (settings.accounts[0].name if len(settings.accounts) == 1 else None)
    if account is None:
        from reconciler.config import ConfigError

        raise ConfigError(
            f"several accounts are configured ({[a.name for a in settings.accounts]}): pass --account"
        )
    settings.account(account)
    receipt = RemovalReceipt(
        order_id=args.order_id,
        sku=args.sku,
        quantity=args.quantity,
        tracking_number=args.tracking or "",
        by=args.by,
        receipt_id=uuid.uuid4().hex,
    )
    await control.receive_removal(await _client(settings), settings, account, receipt)
    print(
        f"receipt of {args.quantity} × {args.sku} for removal {args.order_id} sent to its case "
        f"(removal:{account}:{args.order_id}); the warehouse moves from incoming on the next gate pass"
    )
    return 0


async def cmd_alerts(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ops.alert_delivery import list_alerts
    from reconciler.ledger.db import make_engine

    settings = _settings(args)
    engine = make_engine(settings.ledger_url)
    since = datetime.now(UTC) - timedelta(hours=args.since) if args.since else None
    rows = list_alerts(engine, since=since, kind=args.kind)
    table = Table("id", "raised", "kind", "account", "key", "delivered", "message")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["created_at"][:19].replace("T", " "),
            r["kind"],
            r["account"] or "",
            r["key"],
            r["delivered_at"][:19].replace("T", " ") if r["delivered_at"] else "[yellow]pending[/yellow]",
            r["message"],
        )
    _print(args, rows, table)
    return 0


async def cmd_onboard(args: argparse.Namespace) -> int:
    """Take an account from nothing to running (ops/onboarding.py): one line per step, then exit 0 only
    when no step found a problem."""
    from activities.clients import Clients
    from ops.onboarding import Outcome, StepResult, onboard
    from reconciler.config import ConfigError

    settings = _settings(args)
    account = args.account or (settings.accounts[0].name if len(settings.accounts) == 1 else None)
    if account is None:
        raise ConfigError(
            f"several accounts are configured ({[a.name for a in settings.accounts]}): pass --account"
        )
    settings.account(account)
    marks = {
        Outcome.OK: "ok",
        Outcome.WARNING: "WARNING",
        Outcome.PROBLEM: "PROBLEM",
        Outcome.SKIPPED: "skipped",
    }

    def show(step: StepResult) -> None:
        if args.json:
            return
        print(f"{marks[step.outcome]:<8} {step.step}: {step.summary}", flush=True)
        if step.fix and step.outcome is not Outcome.SKIPPED:
            print(f"{'':<9}→ {step.fix}", flush=True)

    def progress(text: str) -> None:
        if not args.json:
            print(f"{'':<9}… {text}", flush=True)

    clients = Clients(
        settings, shopify_timeout_s=settings.http_timeout_s, amazon_timeout_s=settings.http_timeout_s
    )
    try:
        report = await onboard(
            settings,
            account,
            clients,
            lambda: _client(settings),
            create_location=args.create_location,
            confirm=args.confirm,
            on_step=show,
            on_progress=progress,
        )
    finally:
        await clients.aclose()
    if args.json:
        print(json.dumps({**report.model_dump(mode="json"), "ok": report.ok}, indent=1))
    else:
        problems = [s.step for s in report.steps if s.outcome is Outcome.PROBLEM]
        print(
            f"onboarding of {account}: "
            + ("every check passed" if report.ok else f"problems in {', '.join(problems) or 'skipped steps'}")
        )
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="starter.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--config",
        default=os.environ.get("RECON_CONFIG", "recon.toml"),
        help="TOML config (default recon.toml or $RECON_CONFIG)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run a scenario end to end on the built-in sandbox")
    d.add_argument("--scenario", required=True)
    d.add_argument("--out", required=True, help="where to write the result JSON")
    d.add_argument(
        "--day-seconds", type=float, default=2.0, help="real seconds per simulated day (default 2)"
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--ui-port", type=int, default=None, help="Temporal UI port (default: a free one)")
    d.add_argument("--workdir", default=None, help="keep the run's files here (default: a temp dir)")
    d.add_argument(
        "--linger", type=float, default=0, help="keep the Temporal UI up this many seconds after the run"
    )

    s = sub.add_parser(
        "schedules",
        help="create/update (apply) or list the schedules: sync cycles, daily reconciliation, "
        "monthly finance report, watchdog",
    )
    s.add_argument("action", choices=["apply", "list"])
    n = sub.add_parser("sync-now", help="run a sync cycle now, through the account's schedule")
    n.add_argument("--account")
    for name, helptext in (
        ("pause", "stop all writes to a shop (everything queues)"),
        ("resume", "resume writes"),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("--shop")
        if name == "pause":
            c.add_argument("--reason", required=True)
            c.add_argument("--by", default=os.environ.get("USER", "operator"))
    h = sub.add_parser("holds", help="what waits for approval")
    h.add_argument("action", choices=["list"])
    h.add_argument("--shop")
    for name in ("approve", "reject"):
        c = sub.add_parser(name, help=f"{name} holds by id")
        c.add_argument("hold_ids", type=int, nargs="+")
        c.add_argument("--by", default=os.environ.get("USER", "operator"))
        c.add_argument("--note")
        c.add_argument("--shop")
    rv = sub.add_parser(
        "revert", help="undo applied reconciliation corrections, by their hold ids or a whole run"
    )
    rv.add_argument("hold_ids", type=int, nargs="*")
    rv.add_argument("--run", type=int, help="every applied correction of this reconciliation run")
    rv.add_argument("--effect", type=int, action="append", help="a correction by its effect id (repeatable)")
    rv.add_argument("--by", default=os.environ.get("USER", "operator"))
    rv.add_argument("--note")
    rv.add_argument("--shop")
    status_p = sub.add_parser(
        "status",
        help="per account: cycles, paused and why, holds, pending effects, cases, claims due, quarantine, alerts",
    )
    status_p.add_argument("--account")
    status_p.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    log_p = sub.add_parser(
        "log",
        help="the reconciliation log: every applied effect with its source rows and the quantity after",
        description="Every effect written to Shopify, oldest first, with the ledger row, order item, case "
        "evidence or reconciliation difference it came from. Dates are business dates (the ledger day).",
    )
    log_p.add_argument("--account")
    log_p.add_argument("--sku", help="a Shopify SKU or an Amazon MSKU")
    log_p.add_argument(
        "--kind", help="e.g. shipment, return, lost, found, receipt, correction, removal_shipped"
    )
    log_p.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="from this date (inclusive)")
    log_p.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="to this date (inclusive)")
    log_p.add_argument(
        "--limit",
        type=int,
        help="the latest N effects (default: 100 for a table on screen, else all; 0: all)",
    )
    log_p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    log_p.add_argument("--out", metavar="FILE", help="write to FILE instead of the screen")
    log_p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="same as --format json")
    report_p = sub.add_parser(
        "report", help="the monthly finance report (CSV + Markdown in reports_dir), built on Temporal"
    )
    report_p.add_argument("--month", type=_month, metavar="YYYY-MM", help="default: last month")
    report_p.add_argument("--account", help="default: every account")
    claims_p = sub.add_parser("claims", help="claims due to file with Amazon")
    claims_sub = claims_p.add_subparsers(dest="action", required=True)
    claims_export = claims_sub.add_parser(
        "export", help="one CSV row per claim due, with the dates and reference ids Amazon asks for"
    )
    claims_export.add_argument("--account")
    claims_export.add_argument("--out", metavar="FILE", help="write to FILE (default: stdout)")
    claims_export.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="JSON instead of CSV"
    )
    rc = sub.add_parser(
        "reconcile", help="full reconciliation: Amazon's snapshot against Shopify's FBA location"
    )
    rc.add_argument("--account")
    cs = sub.add_parser("cases", help="the slow cases: returns, lost units, removals, inbound shipments")
    cs_sub = cs.add_subparsers(dest="action", required=True)
    cl = cs_sub.add_parser("list", help="list cases")
    cl.add_argument("--type", choices=["return", "lost", "removal", "inbound"])
    cl.add_argument("--state")
    cl.add_argument(
        "--claim-due", action="store_true", help="only cases owed money or units past their deadline"
    )
    cshow = cs_sub.add_parser("show", help="one case with its evidence")
    cshow.add_argument("case_id")
    r = sub.add_parser("removal", help="removal orders coming back to the warehouse")
    r_sub = r.add_subparsers(dest="action", required=True)
    rr = r_sub.add_parser("receive", help="confirm units of a removal order arrived at the warehouse")
    rr.add_argument("order_id")
    rr.add_argument("--sku", required=True)
    rr.add_argument("--quantity", type=int, required=True)
    rr.add_argument("--tracking", help="the shipment's tracking number, when known")
    rr.add_argument("--account")
    rr.add_argument("--by", default=os.environ.get("USER", "warehouse"))
    al = sub.add_parser("alerts", help="alerts recorded in the ledger and whether they were delivered")
    al_sub = al.add_subparsers(dest="action", required=True)
    alist = al_sub.add_parser("list", help="list alerts, oldest first")
    alist.add_argument(
        "--since",
        type=float,
        default=24,
        metavar="HOURS",
        help="raised in the last HOURS (default 24; 0: all)",
    )
    alist.add_argument("--kind", help="only this kind, e.g. claim_due, large_delta, report_fatal")
    alist.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    q = sub.add_parser("quarantine", help="input that could not be used yet")
    q.add_argument("action", choices=["list", "retry"])
    q.add_argument("--account")
    ob = sub.add_parser(
        "onboard",
        help="take a new merchant from nothing to running: credentials, locations, SKUs, baseline",
        description="Checks Shopify's token and scopes and Amazon's credentials and marketplace, finds (or "
        "creates) the fba location, stocks the mapped items there, lists unmapped and duplicate SKUs, "
        "then previews the baseline with a shadow reconciliation that writes nothing (its CSV lists every "
        "change). Run again with --confirm to set the baseline: its differences become held corrections.",
    )
    ob.add_argument("--account", help="the account to onboard (default: the only one configured)")
    ob.add_argument(
        "--create-location", action="store_true", help="create the fba location when it is missing"
    )
    ob.add_argument(
        "--confirm",
        action="store_true",
        help="set the baseline: a full reconciliation whose differences are held for approval",
    )
    ob.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from reconciler.config import ConfigError

    handlers = {
        "demo": cmd_demo,
        "schedules": cmd_schedules,
        "sync-now": cmd_sync_now,
        "pause": cmd_pause,
        "resume": cmd_resume,
        "holds": cmd_holds,
        "status": cmd_status,
        "log": cmd_log,
        "report": cmd_report,
        "claims": cmd_claims,
        "quarantine": cmd_quarantine,
        "alerts": cmd_alerts,
        "cases": cmd_cases,
        "removal": cmd_removal,
        "reconcile": cmd_reconcile,
        "onboard": cmd_onboard,
        "approve": lambda a: cmd_decide(a, True),
        "reject": lambda a: cmd_decide(a, False),
        "revert": cmd_revert,
    }
    try:
        return asyncio.run(handlers[args.command](args))
    except ConfigError as e:
        print(f"starter: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        print(f"starter: {args.command} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
