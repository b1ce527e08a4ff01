"""The operator's command line for the FBA ⇄ Shopify reconciler.

Examples:
  python starter.py demo --scenario sandbox/samples/demo-50-skus.json --out result.json
  python starter.py cases list --claim-due      # cases owed money or units past their deadline
  python starter.py removal receive RMV-0001 --sku BAG-BLK --quantity 6
  python starter.py schedules apply            # create or update every account's sync schedule
  python starter.py sync-now --account us      # run a cycle now (through the schedule)
  python starter.py pause --shop main --reason "stocktake"
  python starter.py holds list
  python starter.py approve 12 13 --by alice --note "checked with the warehouse"
  python starter.py status
  python starter.py reconcile --account us     # full reconciliation: differences held for approval
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

    if not args.hold_ids and args.run is None:
        raise ConfigError("name the corrections' hold ids, or --run N for every correction of run N")
    settings = _settings(args)
    client = await _client(settings)
    result = await control.revert(
        client,
        _shop(settings, args.shop),
        RevertRequest(hold_ids=args.hold_ids, run_id=args.run, by=args.by, note=args.note),
    )
    if args.json:
        print(result.model_dump_json(indent=1))
    else:
        print(f"reverted: {result.reverted or 'none'}; late rows released to flow again: {result.released}")
        for hold_id, why in result.refused.items():
            print(f"  not reverted{f' (hold {hold_id})' if hold_id else ''}: {why}")
    return 0 if not result.refused else 1


async def cmd_status(args: argparse.Namespace) -> int:
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from ops import control
    from reconciler.ledger.db import make_engine
    from reconciler.ledger.tables import CycleRun, Effect, Hold, QuarantinedInput

    settings = _settings(args)
    engine = make_engine(settings.ledger_url)
    client = await _client(settings)
    out = []
    with Session(engine) as s:
        for a in settings.accounts:
            last = s.exec(
                select(func.max(CycleRun.finished_at)).where(
                    CycleRun.account == a.name, col(CycleRun.ok).is_(True)
                )
            ).one()
            try:
                gate = (await control.gate_status(client, a.shop)).model_dump()
            except Exception as e:  # the gate may not run yet
                gate = {"error": str(e)}
            out.append(
                {
                    "account": a.name,
                    "shop": a.shop,
                    "last_successful_cycle": last,
                    "paused": gate.get("paused"),
                    "pause_reason": gate.get("pause_reason"),
                    "holds": s.exec(
                        select(func.count())
                        .select_from(Hold)
                        .where(Hold.shop == a.shop, Hold.state == "open")
                    ).one(),
                    "pending_effects": s.exec(
                        select(func.count())
                        .select_from(Effect)
                        .where(
                            Effect.account == a.name, Effect.state.in_(["pending", "approved", "in_flight"])
                        )
                    ).one(),  # type: ignore[attr-defined]
                    "quarantined": s.exec(
                        select(func.count())
                        .select_from(QuarantinedInput)
                        .where(QuarantinedInput.account == a.name, QuarantinedInput.state == "open")
                    ).one(),
                }
            )
    table = Table("account", "shop", "last successful cycle", "paused", "holds", "pending", "quarantined")
    for r in out:
        table.add_row(
            r["account"],
            r["shop"],
            str(r["last_successful_cycle"]),
            f"yes: {r['pause_reason']}" if r["paused"] else "no",
            str(r["holds"]),
            str(r["pending_effects"]),
            str(r["quarantined"]),
        )
    _print(args, out, table)
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

    s = sub.add_parser("schedules", help="create/update (apply) or list the sync schedules")
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
    rv.add_argument("--by", default=os.environ.get("USER", "operator"))
    rv.add_argument("--note")
    rv.add_argument("--shop")
    sub.add_parser("status", help="per account: last cycle, paused, holds, pending, quarantined")
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
        "quarantine": cmd_quarantine,
        "alerts": cmd_alerts,
        "cases": cmd_cases,
        "removal": cmd_removal,
        "reconcile": cmd_reconcile,
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
