"""Onboarding a merchant (`starter.py onboard`, ops/onboarding.py) on the sandbox, and the simulator
support it needs: the app's access scopes, `locationAdd`, `inventoryBulkToggleActivation`, catalogues
with unstocked and duplicate variants, and the Sellers API's `getMarketplaceParticipations`."""

from __future__ import annotations

import asyncio
import csv
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, validate
from sqlmodel import Session, select
from temporalio.client import Client

from integrations.amazon.sellers import marketplace_participations
from integrations.shopify import operations
from ops.onboarding import OnboardingReport, Outcome, onboard
from reconciler.config import SkuMap, SkuOverride
from reconciler.ledger.tables import Effect, Hold
from sandbox.shopify.api import load_schema
from sandbox.shopify.world import ShopifyWorld
from tests.amazon_helpers import clock_at as amazon_clock
from tests.amazon_helpers import running_world, scenario, sim_and_client
from tests.harness import SECRETS, SandboxEnv, amazon_only, item, small_scenario
from tests.shopify_helpers import REAL_SCHEMA, make_world, real_schema, running
from tests.test_cli import PYTHON_CMD, REPO, service_config, starter_env

ONBOARDING_OPERATIONS = [
    operations.ACCESS_SCOPES,
    operations.LOCATION_ADD,
    operations.INVENTORY_BULK_TOGGLE_ACTIVATION,
]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """No property beyond those the model defines (as tests/test_contract_spapi.py checks its models)."""
    if "properties" in schema:
        schema = {**schema, "additionalProperties": False}
    return {
        k: (
            {n: _strict(p) for n, p in v.items()}
            if k == "properties"
            else _strict(v)
            if isinstance(v, dict)
            else v
        )
        for k, v in schema.items()
    }


# `GetMarketplaceParticipationsResponse` as Amazon's Sellers API v1 model (sellers-api-model/sellers.json
# in amzn/selling-partner-api-models) defines it; ../shared/contracts/sp-api has no Sellers model.
GET_MARKETPLACE_PARTICIPATIONS_RESPONSE = _strict(
    {
        "type": "object",
        "properties": {
            "payload": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["marketplace", "participation"],
                    "properties": {
                        "marketplace": {
                            "type": "object",
                            "required": [
                                "id",
                                "name",
                                "countryCode",
                                "defaultCurrencyCode",
                                "defaultLanguageCode",
                                "domainName",
                            ],
                            "properties": {
                                "id": {"type": "string"},
                                "name": {"type": "string"},
                                "countryCode": {"type": "string", "pattern": "^[A-Z]{2}$"},
                                "defaultCurrencyCode": {"type": "string"},
                                "defaultLanguageCode": {"type": "string"},
                                "domainName": {"type": "string"},
                            },
                        },
                        "participation": {
                            "type": "object",
                            "required": ["isParticipating", "hasSuspendedListings"],
                            "properties": {
                                "isParticipating": {"type": "boolean"},
                                "hasSuspendedListings": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "string"},
                    },
                },
            },
        },
    }
)


async def _no_temporal() -> Client:
    raise RuntimeError("no Temporal in this test")


def _steps(report: OnboardingReport) -> dict[str, Outcome]:
    return {s.step: s.outcome for s in report.steps}


def _step(report: OnboardingReport, name: str):  # type: ignore[no-untyped-def]
    found = report.step(name)
    assert found is not None, f"no step {name} in {_steps(report)}"
    return found


async def _onboard(env: SandboxEnv, connect=_no_temporal, **kw: Any) -> OnboardingReport:  # type: ignore[no-untyped-def]
    return await onboard(env.settings, env.account, env.clients, connect, **kw)


def _catalog_item(sku: str, fba: int = 10, **shopify: Any) -> dict[str, Any]:
    entry = item(sku, fba=fba)
    entry["shopify"].update(shopify)
    return entry


# --- the simulators -----------------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_SCHEMA.is_file(), reason=f"Shopify contracts not found at {REAL_SCHEMA}")
@pytest.mark.parametrize("name", ONBOARDING_OPERATIONS)
def test_onboarding_operations_are_valid_against_the_real_schema_and_the_simulator(name: str) -> None:
    assert name in operations.operation_names()
    document = parse(operations.source(name))
    assert [e.message for e in validate(real_schema(), document)] == []
    assert [e.message for e in validate(load_schema(), document)] == []


@pytest.mark.asyncio
async def test_sim_reports_granted_scopes_and_denies_a_mutation_without_its_scope() -> None:
    world = make_world()
    async with running(world) as (client, _):
        assert set(await client.access_scopes()) == world.access_scopes
        world.access_scopes = {"read_locations", "read_inventory"}
        assert await client.access_scopes() == ["read_inventory", "read_locations"]
        from integrations.shopify.errors import ShopifyQueryError

        with pytest.raises(ShopifyQueryError) as denied:
            await client.add_location("Amazon FBA CA", "CA")
        (error,) = denied.value.details
        assert error["extensions"]["code"] == "ACCESS_DENIED"
        assert "`write_locations`" in error["message"]
        assert world.location_named("Amazon FBA CA") is None


@pytest.mark.asyncio
async def test_sim_location_add_creates_a_location_and_refuses_a_taken_name() -> None:
    world = make_world()
    async with running(world) as (client, _):
        added = await client.add_location("Amazon FBA CA", "CA")
        assert added.user_errors == [] and added.location_id
        assert (await client.locations())["Amazon FBA CA"] == added.location_id
        again = await client.add_location("Amazon FBA CA", "CA")
        assert again.location_id is None and [e.code for e in again.user_errors] == ["TAKEN"]
        blank = await client.add_location("  ", "CA")
        assert [e.code for e in blank.user_errors] == ["BLANK"]


@pytest.mark.asyncio
async def test_sim_activation_stocks_an_item_with_zero_and_is_safe_to_repeat() -> None:
    world = make_world()
    fba, warehouse = world.location_for("fba").id, world.location_for("warehouse").id
    new = world.add_item("NEW-1", warehouse={"available": 5}, stocked_at=("warehouse",))
    async with running(world) as (client, _):
        assert await client.quantities([new.id], [fba]) == {}
        first = await client.activate_inventory(new.id, [fba])
        assert first.user_errors == [] and first.location_ids == [fba]
        levels = await client.quantities(
            [new.id], [fba, warehouse], names=("available", "on_hand", "damaged")
        )
        assert levels[(new.id, fba)] == {"available": 0, "on_hand": 0, "damaged": 0}
        assert levels[(new.id, warehouse)]["available"] == 5
        again = await client.activate_inventory(new.id, [fba])  # already stocked: nothing changes
        assert again.user_errors == [] and len(world.levels_of_item(new.id)) == 2

        unknown = await client.activate_inventory("gid://shopify/InventoryItem/1", [fba])
        assert [e.code for e in unknown.user_errors] == ["INVENTORY_ITEM_NOT_FOUND"]
        nowhere = await client.activate_inventory(new.id, ["gid://shopify/Location/1"])
        assert [e.code for e in nowhere.user_errors] == ["LOCATION_NOT_FOUND"]

    # Deactivation (the other half of the mutation): not from the only location, and it takes the level.
    only = world.add_item("ONLY-WH", stocked_at=("warehouse",))
    assert world.deactivate_problem(only.id, warehouse) == "CANNOT_DEACTIVATE_FROM_ONLY_LOCATION"
    assert world.deactivate_problem(new.id, fba) is None
    world.deactivate(new.id, fba)
    assert world.level(new.id, fba) is None and world.levels_of_item(new.id)[0].location.id == warehouse


def test_sim_catalogue_holds_duplicate_and_unstocked_variants() -> None:
    scn = small_scenario(
        [_catalog_item("DUP", duplicates=1), _catalog_item("NEW", stocked_at_fba=False), item("PLAIN")]
    )
    world = ShopifyWorld.from_scenario(scn, amazon_clock(scn, 0))
    fba = world.location_for("fba").id
    assert len(world.items_with_sku("DUP")) == 2
    assert all(world.level(i.id, fba) is not None for i in world.items_with_sku("DUP"))
    (new,) = world.items_with_sku("NEW")
    assert world.level(new.id, fba) is None and len(world.levels_of_item(new.id)) == 1


@pytest.mark.asyncio
async def test_sim_marketplace_participations_follow_the_sellers_model() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    scn = scenario([])
    async with running_world(scn, day=1) as (world, base), httpx.AsyncClient() as http:
        world.participations["DE"] = (True, True)
        token = (
            await http.post(
                f"{base}/auth/o2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": world.refresh_token,
                    "client_id": world.client_id,
                    "client_secret": world.client_secret,
                },
            )
        ).json()["access_token"]
        answer = await http.get(
            f"{base}/sellers/v1/marketplaceParticipations", headers={"x-amz-access-token": token}
        )
        assert answer.status_code == 200 and "x-amzn-RateLimit-Limit" in answer.headers
        body = answer.json()
        jsonschema.Draft4Validator(GET_MARKETPLACE_PARTICIPATIONS_RESPONSE).validate(body)
        assert {
            (p["marketplace"]["countryCode"], p["participation"]["hasSuspendedListings"])
            for p in body["payload"]
        } == {
            ("US", False),
            ("DE", True),
        }
        unauthorised = await http.get(f"{base}/sellers/v1/marketplaceParticipations")
        assert unauthorised.status_code == 403
        jsonschema.Draft4Validator(GET_MARKETPLACE_PARTICIPATIONS_RESPONSE).validate(unauthorised.json())


@pytest.mark.asyncio
async def test_sellers_client_exchanges_a_fresh_token_and_reads_participations() -> None:
    async with sim_and_client(scenario([]), day=1) as (world, client):
        (us,) = await marketplace_participations(client)
        assert (us.marketplace_id, us.country_code, us.is_participating) == (world.marketplace_id, "US", True)
        await marketplace_participations(client)
        assert world.requests["lwa"] == 2  # each check exchanges the refresh token again
    from integrations.amazon.errors import AmazonApiError

    async with sim_and_client(scenario([]), day=1, client_kwargs={"lwa_client_secret": "wrong"}) as (
        _,
        client,
    ):
        with pytest.raises(AmazonApiError) as bad:
            await marketplace_participations(client)
        assert (bad.value.status, bad.value.code) == (401, "invalid_client")


# --- onboarding: credentials, locations, catalogue, activation ------------------------------------------


@pytest.mark.asyncio
async def test_bad_shopify_token_is_reported_in_words(temporal_client: Client, tmp_path: Path) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("A")]), tmp_path) as env:
        env.shopify.access_token = "shpat_rotated_by_someone_else"  # the configured token no longer works
        report = await _onboard(env)
    access = _step(report, "shopify_access")
    assert access.outcome is Outcome.PROBLEM
    assert "refused the access token" in access.summary
    assert "TEST_SHOPIFY_TOKEN" in access.fix and "reinstall" in access.fix
    assert (
        SECRETS["TEST_SHOPIFY_TOKEN"] not in report.model_dump_json()
    )  # names the variable, never the value
    steps = _steps(report)
    assert steps["amazon_access"] is Outcome.OK  # the other side is still checked
    assert steps["fba_location"] is steps["activation"] is steps["baseline"] is Outcome.SKIPPED
    assert not report.ok


@pytest.mark.asyncio
async def test_missing_scope_is_reported_with_what_to_do(temporal_client: Client, tmp_path: Path) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("A")]), tmp_path) as env:
        env.shopify.access_scopes.discard("read_products")
        report = await _onboard(env)
    access = _step(report, "shopify_access")
    assert access.outcome is Outcome.PROBLEM
    assert "`read_products` to find variants by SKU" in access.summary
    assert "add `read_products` to the app's Admin API access scopes" in access.fix
    assert access.details["missing"] == ["read_products"]
    assert _steps(report)["baseline"] is Outcome.SKIPPED and not report.ok


@pytest.mark.asyncio
async def test_bad_lwa_secret_and_a_marketplace_the_seller_does_not_sell_in(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("A")]), tmp_path) as env:
        env.amazon.client_secret = "rotated-in-developer-central"
        bad = _step(await _onboard(env), "amazon_access")
        assert bad.outcome is Outcome.PROBLEM and "client id or secret" in bad.summary
        assert "TEST_LWA_CLIENT_ID" in bad.fix and "TEST_LWA_CLIENT_SECRET" in bad.fix

        env.amazon.client_secret = SECRETS["TEST_LWA_CLIENT_SECRET"]
        env.amazon.participations = {"DE": (True, False), "US": (False, False)}
        report = await _onboard(env)
    foreign = _step(report, "amazon_access")
    assert foreign.outcome is Outcome.PROBLEM
    assert "does not sell in marketplace US" in foreign.summary and "DE (A1PA6795UKMFR9)" in foreign.summary
    assert _steps(report)["amazon_catalogue"] is Outcome.SKIPPED


@pytest.mark.asyncio
async def test_missing_fba_location_is_reported_then_created_with_create_location(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("A"), item("B")]), tmp_path) as env:
        env.settings.accounts[0].fba_location = "Amazon FBA US (new)"
        missing = await _onboard(env)
        result = _step(missing, "fba_location")
        assert (
            result.outcome is Outcome.PROBLEM and "no location named 'Amazon FBA US (new)'" in result.summary
        )
        assert "--create-location" in result.fix and "Amazon FBA US" in result.fix  # and what exists
        assert _steps(missing)["activation"] is _steps(missing)["baseline"] is Outcome.SKIPPED
        assert env.shopify.location_named("Amazon FBA US (new)") is None

        env.shopify.access_scopes.discard("write_locations")
        no_scope = _step(await _onboard(env, create_location=True), "fba_location")
        assert no_scope.outcome is Outcome.PROBLEM and "`write_locations`" in no_scope.summary

        env.shopify.access_scopes.add("write_locations")
        created = await _onboard(env, create_location=True)
        result = _step(created, "fba_location")
        assert result.outcome is Outcome.OK and result.details["created"] is True
        location = env.shopify.location_named("Amazon FBA US (new)")
        assert location is not None and result.details["location_id"] == location.id
        # The new location stocks nothing yet: every mapped item is activated there, with 0.
        activation = _step(created, "activation")
        assert activation.outcome is Outcome.OK
        assert {a["shopify_sku"] for a in activation.details["activated"]} == {"A", "B"}
        for sku in ("A", "B"):
            level = env.shopify.level(env.shopify.items_with_sku(sku)[0].id, location.id)
            assert level is not None and level.get("available") == level.get("on_hand") == 0

        again = await _onboard(env, create_location=True)  # found by name now: nothing is created twice
        assert _step(again, "fba_location").details["created"] is False
        assert [loc.name for loc in env.shopify.locations.values()].count("Amazon FBA US (new)") == 1


@pytest.mark.asyncio
async def test_unstocked_mapped_items_are_activated_and_then_show_zero(
    temporal_client: Client, tmp_path: Path
) -> None:
    scn = small_scenario(
        [
            item("STOCKED", fba=4),
            _catalog_item("NEW-1", fba=6, stocked_at_fba=False),
            _catalog_item("NEW-2", stocked_at_fba=False),
        ]
    )
    async with SandboxEnv(temporal_client, scn, tmp_path) as env:
        fba = env.shopify.location_for("fba").id
        new_items = {sku: env.shopify.items_with_sku(sku)[0].id for sku in ("NEW-1", "NEW-2")}
        assert all(env.shopify.level(i, fba) is None for i in new_items.values())
        before = env.shopify.snapshot()

        report = await _onboard(env)
        activation = _step(report, "activation")
        assert activation.outcome is Outcome.OK
        assert activation.details["already_stocked"] == 1
        assert {a["shopify_sku"]: a["quantities"] for a in activation.details["activated"]} == {
            "NEW-1": {"available": 0, "on_hand": 0},
            "NEW-2": {"available": 0, "on_hand": 0},
        }
        levels = await env.clients.shopify(env.shop).quantities(list(new_items.values()), [fba])
        assert all(
            levels[(i, fba)] == {"available": 0, "on_hand": 0, "damaged": 0, "incoming": 0}
            for i in new_items.values()
        )
        assert env.shopify.snapshot() == before  # stocking changes no quantity
        toggles = [
            r for r in env.shopify.requests if r.operation == operations.INVENTORY_BULK_TOGGLE_ACTIVATION
        ]
        assert len(toggles) == 2  # only the items that were not stocked

        again = _step(await _onboard(env), "activation")
        assert again.outcome is Outcome.OK and again.details["activated"] == []
        assert (
            len(
                [
                    r
                    for r in env.shopify.requests
                    if r.operation == operations.INVENTORY_BULK_TOGGLE_ACTIVATION
                ]
            )
            == 2
        )


@pytest.mark.asyncio
async def test_unmapped_duplicate_and_missing_at_amazon_skus_are_listed(
    temporal_client: Client, tmp_path: Path
) -> None:
    scn = small_scenario(
        [
            item("OK-1"),
            amazon_only("AMZ-ONLY", fba=3),
            _catalog_item("DUP", fba=4, duplicates=1),
            {**item("MUG-2PK", fba=5), "shopify_sku": "MUG"},
        ]
    )
    async with SandboxEnv(temporal_client, scn, tmp_path) as env:
        account = env.settings.accounts[0]
        account.sku_map = SkuMap(
            overrides=[
                SkuOverride(msku="MUG-2PK", shopify_sku="MUG", pack=2),
                SkuOverride(msku="MUG-6PK", shopify_sku="MUG", pack=6),  # Amazon does not list it
                SkuOverride(msku="AMZ-TYPO", shopify_sku="AMZ-ONLY-TYPO"),  # neither side has it
            ]
        )
        env.shopify.add_item("SHOP-ONLY")  # stocked at the fba location; no MSKU maps to it
        report = await _onboard(env, confirm=True)

    unmapped = _step(report, "unmapped_skus")
    assert unmapped.outcome is Outcome.PROBLEM and "AMZ-ONLY" in unmapped.summary
    assert [(u["msku"], u["amazon_sellable"]) for u in unmapped.details["unmapped"]] == [("AMZ-ONLY", 3)]
    assert "sku_map_csv" in unmapped.fix and "quarantine" in unmapped.fix

    duplicates = _step(report, "duplicate_skus")
    assert duplicates.outcome is Outcome.PROBLEM and "DUP (2 variants)" in duplicates.summary
    (dup,) = duplicates.details["duplicates"]
    assert dup["shopify_sku"] == "DUP" and len(dup["inventory_item_ids"]) == 2 and dup["mskus"] == ["DUP"]

    missing = _step(report, "missing_at_amazon")
    assert missing.outcome is Outcome.WARNING
    assert {(m["shopify_sku"], m.get("msku")) for m in missing.details["missing"]} == {
        ("MUG", "MUG-6PK"),
        ("AMZ-ONLY-TYPO", "AMZ-TYPO"),
        ("SHOP-ONLY", None),
    }
    # Duplicates make a confirmed baseline wrong: it is not set (and Temporal is never asked).
    baseline = _step(report, "baseline")
    assert baseline.outcome is Outcome.SKIPPED and "duplicate_skus" in baseline.summary
    assert not report.ok


# --- the baseline: shadow preview, then confirm -----------------------------------------------------------


def _csv_changes(path: str) -> set[tuple[str, str, str]]:
    with open(path, newline="") as f:
        return {(r["sku"], r["name"], r["correction"]) for r in csv.DictReader(f)}


def _ledger_counts(env: SandboxEnv) -> tuple[list[Effect], list[Hold]]:
    with Session(env.engine) as s:
        return list(s.exec(select(Effect)).all()), list(s.exec(select(Hold)).all())


@pytest.mark.asyncio
async def test_shadow_preview_writes_nothing_and_confirm_holds_its_corrections(
    temporal_client: Client, tmp_path: Path
) -> None:
    amazon_damaged = item("DMG", fba=5, damaged=2)
    amazon_damaged["shopify"]["fba"]["damaged"] = 0  # Shopify never heard of the 2 unfulfillable units
    scn = small_scenario(
        [
            item("EVEN", fba=10),
            item("LESS", fba=8),
            item("MORE", fba=2),
            amazon_damaged,
            _catalog_item("NEW", fba=7, stocked_at_fba=False),
            amazon_only("AMZ-ONLY", fba=3),
        ]
    )
    async with SandboxEnv(temporal_client, scn, tmp_path) as env, env.make_worker():
        env.settings.reports_dir = tmp_path / "reports"
        env.shopify.manual_adjust("LESS", "fba", "available", -3)  # Shopify 5, Amazon 8
        env.shopify.manual_adjust("MORE", "fba", "available", +4)  # Shopify 6, Amazon 2
        before = env.shopify.snapshot()

        async def connect() -> Client:
            return temporal_client

        progress: list[str] = []
        preview = await _onboard(env, connect, on_progress=progress.append)
        baseline = _step(preview, "baseline")
        assert baseline.outcome is Outcome.OK, baseline
        expected = {
            ("LESS", "available", "+3"),
            ("MORE", "available", "-4"),
            ("DMG", "damaged", "+2"),
            ("NEW", "available", "+7"),  # stocked by onboarding a moment ago, so it can be corrected
            ("AMZ-ONLY", "available", ""),  # no Shopify variant: reported, nothing to correct
        }
        assert _csv_changes(baseline.details["report_csv"]) == expected
        assert "preview-" in baseline.details["report_csv"] and baseline.details["shadow"] is True
        assert (
            baseline.details["changes"],
            baseline.details["units_up"],
            baseline.details["units_down"],
        ) == (
            4,
            12,
            4,
        )
        assert baseline.details["report_csv"] in baseline.summary and "--confirm" in baseline.fix
        assert any("shadow reconciliation" in p for p in progress)
        # Nothing written to Shopify, nothing held, no effect.
        assert env.shopify.snapshot() == before
        assert not [r for r in env.shopify.requests if r.operation == operations.INVENTORY_ADJUST_QUANTITIES]
        assert _ledger_counts(env) == ([], [])
        assert _steps(preview)["unmapped_skus"] is Outcome.PROBLEM and not preview.ok  # AMZ-ONLY

        confirmed = await _onboard(env, connect, confirm=True)
        baseline = _step(confirmed, "baseline")
        assert baseline.outcome is Outcome.OK, baseline
        assert baseline.details["shadow"] is False and baseline.details["corrections_held"] == 4
        assert "starter.py holds list" in baseline.fix
        effects, holds = _ledger_counts(env)
        assert {(e.shopify_sku, e.name, e.delta, e.state) for e in effects} == {
            ("LESS", "available", 3, "held"),
            ("MORE", "available", -4, "held"),
            ("DMG", "damaged", 2, "held"),
            ("NEW", "available", 7, "held"),
        }
        assert len(holds) == 4 and {h.kind for h in holds} == {"correction"}
        assert env.shopify.snapshot() == before  # held: nothing is written until a person approves


# --- the command line -----------------------------------------------------------------------------------


async def _run_starter(config: Path, *args: str, timeout: float = 180) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON_CMD,
        "starter.py",
        "--config",
        str(config),
        *args,
        cwd=REPO,
        env=starter_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_onboard_command_lines_exit_codes_and_json(
    temporal_client: Client, dev_server: Any, tmp_path: Path
) -> None:
    scn = small_scenario([item("A", fba=5), _catalog_item("B", fba=3, stocked_at_fba=False)])
    async with SandboxEnv(temporal_client, scn, tmp_path) as env, env.make_worker():
        env.settings.reports_dir = tmp_path / "reports"
        config = tmp_path / "recon.toml"
        config.write_text(service_config(env, dev_server))

        env.shopify.access_token = "shpat_revoked"
        code, out, err = await _run_starter(config, "onboard", "--account", "us")
        assert code == 1, (out, err)
        assert "PROBLEM  shopify_access: Shopify refused the access token" in out
        assert "→ put the app's Admin API access token" in out and "TEST_SHOPIFY_TOKEN" in out
        assert "problems in shopify_access" in out
        assert SECRETS["TEST_SHOPIFY_TOKEN"] not in out + err

        env.shopify.access_token = SECRETS["TEST_SHOPIFY_TOKEN"]
        code, out, err = await _run_starter(config, "onboard", "--account", "us", "--json")
        assert code == 0, (out, err)
        data = json.loads(out)
        assert data["ok"] is True and data["confirm"] is False
        outcomes = {s["step"]: s["outcome"] for s in data["steps"]}
        assert set(outcomes.values()) == {"ok"}, outcomes
        baseline = next(s for s in data["steps"] if s["step"] == "baseline")
        assert _csv_changes(baseline["details"]["report_csv"]) == {("B", "available", "+3")}
        assert os.path.basename(baseline["details"]["report_csv"]).startswith("preview-")


@pytest.mark.asyncio
async def test_the_baseline_is_not_started_without_a_worker(temporal_client: Client) -> None:
    from ops.onboarding import _worker_polls

    assert await _worker_polls(temporal_client, "tq-nobody-polls-this", wait_s=0) is False
