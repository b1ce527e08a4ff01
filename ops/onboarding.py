"""Onboarding a merchant (`starter.py onboard --account A`): from nothing to running, one account at a time.

Each step ends in one `StepResult` — ok, warning, problem (with what to do) or skipped (an earlier
problem makes it pointless) — in this order:

1. `shopify_access`: the Admin API token works and the app has the scopes the product needs.
   `amazon_access`: the LWA token exchange works (a fresh one) and the seller participates in the
   account's marketplace (Sellers API `getMarketplaceParticipations`).
2. `fba_location`: the account's `fba` location exists (by name or gid), or is created with
   `create_location` (`locationAdd`, needs `write_locations`). `warehouse_location`: the shop's
   warehouse exists (sync cycles and removal cases write to it).
3. `amazon_catalogue`: Amazon's FBA inventory snapshot (the MYI report), the MSKUs to map.
   `unmapped_skus`: MSKUs whose Shopify SKU (through the SKU map) no variant has.
   `duplicate_skus`: Shopify SKUs that several variants share (the resolver cannot choose).
   `missing_at_amazon`: Shopify SKUs the SKU map or the fba location names that Amazon does not list.
4. `activation`: mapped items not yet stocked at the fba location are stocked there
   (`inventoryBulkToggleActivation`), so that they show 0 and the baseline can correct them.
5. `baseline`: a shadow full reconciliation (writes nothing, holds nothing; its CSV is the preview of
   every change), or with `confirm` the normal one, whose differences become held corrections.

Exit code 0 (`OnboardingReport.ok`) only when no step has a problem; warnings are notes. With
`confirm`, the baseline is set only when nothing that would make a correction wrong is left (access,
locations, the Amazon snapshot, duplicate SKUs, activation); unmapped MSKUs do not block it — their
rows are quarantined until mapped, and the baseline leaves them alone.

Secrets never appear in a result: messages name the variables that hold them, never their values.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.clients import Clients
from integrations.amazon import flat_reports
from integrations.amazon.client import AmazonClient
from integrations.amazon.errors import AmazonApiError, AmazonError, AmazonUnavailable
from integrations.amazon.sellers import marketplace_participations
from integrations.amazon.snapshot import InventorySnapshotRow
from integrations.shopify.client import ShopifyClient, SkuResolution
from integrations.shopify.errors import ShopifyAuthError, ShopifyError
from ops import control
from reconciler.clock import Clock
from reconciler.config import AccountConfig, ConfigError, Settings, ShopConfig
from reconciler.messages import ReconcileSummary

log = logging.getLogger("recon.onboarding")

# Admin API scopes the product needs, and why (a write scope also grants its read scope).
REQUIRED_SCOPES: dict[str, str] = {
    "read_inventory": "read inventory levels",
    "write_inventory": "write inventory changes and stock items at the fba location",
    "read_products": "find variants by SKU",
    "read_locations": "find the fba and warehouse locations",
}
CREATE_LOCATION_SCOPE = "write_locations"
ACTIVATE_CONCURRENCY = 4  # inventoryBulkToggleActivation calls in flight (one item each)
SHOWN = 10  # SKUs named in a one-line summary; the details list them all
# Steps whose problem makes a confirmed baseline wrong or impossible (see the module docstring).
BLOCKS_CONFIRM = frozenset(
    {
        "shopify_access",
        "amazon_access",
        "fba_location",
        "amazon_catalogue",
        "duplicate_skus",
        "activation",
    }
)


class Outcome(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    SKIPPED = "skipped"


class StepResult(BaseModel):
    step: str
    outcome: Outcome
    summary: str  # one line: what was found or done
    fix: str = ""  # what to do about it (problems, warnings, next steps)
    details: dict[str, Any] = Field(default_factory=dict)


class OnboardingReport(BaseModel):
    account: str
    shop: str
    confirm: bool
    steps: list[StepResult] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.outcome in (Outcome.OK, Outcome.WARNING) for s in self.steps)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.step == name), None)


class OnboardingError(Exception):
    """A step could not finish; the message says why in words."""


# --- helpers ---------------------------------------------------------------------------------------


def _names(values: Sequence[str], limit: int = SHOWN) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _has_scope(granted: set[str], handle: str) -> bool:
    return handle in granted or (handle.startswith("read_") and f"write_{handle[5:]}" in granted)


def _access_denied(error: ShopifyError) -> str | None:
    """The scope Shopify named in an ACCESS_DENIED error, if that is what `error` is."""
    for e in error.details if isinstance(error.details, list) else []:
        ext = (e.get("extensions") or {}) if isinstance(e, dict) else {}
        if ext.get("code") == "ACCESS_DENIED":
            return str(ext.get("requiredAccess") or e.get("message") or "a scope")
    return None


def _scope_fix(missing: Sequence[str], shop: ShopConfig) -> str:
    return (
        f"add {', '.join(f'`{m}`' for m in missing)} to the app's Admin API access scopes (the app's "
        f"configuration, or its version in the Dev Dashboard), have the merchant approve the change on "
        f"{shop.domain}, and put the token the app then holds into {shop.access_token_env}"
    )


def _shopify_failure(e: ShopifyError, shop: ShopConfig, doing: str) -> tuple[str, str]:
    """(summary, fix) for a Shopify call that failed while `doing` something."""
    if isinstance(e, ShopifyAuthError):
        return (
            f"Shopify refused the access token of {shop.domain} while {doing} ({e})",
            f"put the app's Admin API access token (shpat_…) for {shop.domain} into "
            f"{shop.access_token_env} — not the API key or secret; if the app was uninstalled or the token "
            "revoked, reinstall the app and use its new token",
        )
    denied = _access_denied(e)
    if denied is not None:
        return (f"Shopify denied access while {doing}: {denied} is needed", _scope_fix([denied], shop))
    if e.transient:
        return (
            f"Shopify did not answer while {doing} ({e})",
            f"check that {shop.base_url or 'https://' + shop.domain} is reachable, then run onboarding again",
        )
    return (
        f"Shopify rejected a request while {doing}: {e}",
        f"check shops.domain ({shop.domain}) and shops.api_version ({shop.api_version}) in the config",
    )


def _amazon_failure(e: AmazonError, account: AccountConfig, doing: str) -> tuple[str, str]:
    if isinstance(e, AmazonApiError) and e.code == "invalid_client":
        return (
            f"Login with Amazon rejected the app's client id or secret while {doing}",
            f"put the LWA client id and client secret of the SP-API app (Developer Central) into "
            f"{account.lwa_client_id_env} and {account.lwa_client_secret_env}",
        )
    if isinstance(e, AmazonApiError) and e.code in ("invalid_grant", "unauthorized_client"):
        return (
            f"Login with Amazon rejected the refresh token while {doing} ({e.code})",
            f"have the seller authorise the app again in Seller Central and put the new refresh token "
            f"(Atzr|…) into {account.refresh_token_env}",
        )
    if isinstance(e, AmazonApiError) and e.status == 403:
        return (
            f"Amazon refused the request while {doing}: {e.amazon_message}",
            "check that the SP-API app has the roles it needs (Inventory and Order Tracking, Amazon "
            "Fulfillment, Selling Partner Insights) and that the seller authorised it for this region",
        )
    if isinstance(e, AmazonUnavailable):
        return (
            f"Amazon did not answer while {doing} ({e.last_error})",
            f"check that {account.endpoint or 'the SP-API endpoint'} is reachable, then run onboarding again",
        )
    return (f"Amazon rejected a request while {doing}: {e}", "see Amazon's message above")


# --- 1. credentials and scopes ----------------------------------------------------------------------


async def check_shopify_access(shopify: ShopifyClient, shop: ShopConfig) -> StepResult:
    """The token works (`currentAppInstallation`) and the app holds every scope the product needs."""
    try:
        granted = set(await shopify.access_scopes())
    except ShopifyError as e:
        summary, fix = _shopify_failure(e, shop, "reading the app's access scopes")
        return StepResult(step="shopify_access", outcome=Outcome.PROBLEM, summary=summary, fix=fix)
    missing = [s for s in REQUIRED_SCOPES if not _has_scope(granted, s)]
    details = {"shop": shop.domain, "granted": sorted(granted), "missing": missing}
    if missing:
        why = "; ".join(f"`{m}` to {REQUIRED_SCOPES[m]}" for m in missing)
        return StepResult(
            step="shopify_access",
            outcome=Outcome.PROBLEM,
            summary=f"the token of {shop.domain} works, but the app lacks {why}",
            fix=_scope_fix(missing, shop),
            details=details,
        )
    return StepResult(
        step="shopify_access",
        outcome=Outcome.OK,
        summary=f"the token of {shop.domain} works and the app has the scopes it needs "
        f"({', '.join(sorted(REQUIRED_SCOPES))})",
        details=details,
    )


async def check_amazon_access(amazon: AmazonClient, account: AccountConfig) -> StepResult:
    """A fresh LWA token exchange, then the seller's marketplace participations."""
    try:
        participations = await marketplace_participations(amazon, fresh_token=True)
    except AmazonError as e:
        summary, fix = _amazon_failure(e, account, "exchanging the refresh token and reading marketplaces")
        return StepResult(step="amazon_access", outcome=Outcome.PROBLEM, summary=summary, fix=fix)
    wanted = account.market.marketplace_id
    listed = {p.marketplace_id: p for p in participations}
    details = {
        "marketplace": account.marketplace,
        "marketplace_id": wanted,
        "participations": [p.model_dump() for p in participations],
    }
    others = ", ".join(f"{p.country_code} ({p.marketplace_id})" for p in participations if p.is_participating)
    this = listed.get(wanted)
    if this is None or not this.is_participating:
        return StepResult(
            step="amazon_access",
            outcome=Outcome.PROBLEM,
            summary=f"the LWA credentials work, but the seller does not sell in marketplace "
            f"{account.marketplace} ({wanted}); it participates in: {others or 'none'}",
            fix=f"set `marketplace` of account {account.name} to one of those, or authorise the app with the "
            f"seller account that sells in {account.marketplace}",
            details=details,
        )
    if this.has_suspended_listings:
        return StepResult(
            step="amazon_access",
            outcome=Outcome.WARNING,
            summary=f"the LWA credentials work and the seller sells in {this.name} ({wanted}), but has "
            "suspended listings there",
            fix="suspended (inactive) listings are missing from Amazon's inventory snapshot: check "
            "Seller Central → Inventory → listing status before setting the baseline",
            details=details,
        )
    return StepResult(
        step="amazon_access",
        outcome=Outcome.OK,
        summary=f"the LWA credentials work and the seller sells in {this.name or account.marketplace} ({wanted})",
        details=details,
    )


# --- 2. locations -----------------------------------------------------------------------------------


async def ensure_fba_location(
    shopify: ShopifyClient,
    account: AccountConfig,
    shop: ShopConfig,
    *,
    create: bool,
    granted_scopes: set[str],
    locations: dict[str, str] | None = None,
) -> tuple[StepResult, str | None]:
    """Find the account's fba location by name or gid; create it (by name) when `create`. Returns the
    result and the location's gid (None when it is missing)."""
    wanted = account.fba_location
    try:
        found = locations if locations is not None else await shopify.locations()
    except ShopifyError as e:
        summary, fix = _shopify_failure(e, shop, "listing locations")
        return StepResult(step="fba_location", outcome=Outcome.PROBLEM, summary=summary, fix=fix), None
    by_id = {gid: name for name, gid in found.items()}
    if wanted.startswith("gid://"):
        if wanted in by_id:
            return (
                StepResult(
                    step="fba_location",
                    outcome=Outcome.OK,
                    summary=f"fba location {wanted} ('{by_id[wanted]}') found",
                    details={"location_id": wanted, "name": by_id[wanted], "created": False},
                ),
                wanted,
            )
        return (
            StepResult(
                step="fba_location",
                outcome=Outcome.PROBLEM,
                summary=f"no active location has the id {wanted} (fba_location of account {account.name})",
                fix="set fba_location to the name of an existing location, or to a new name and run "
                "onboarding with --create-location; locations found: " + (_names(sorted(found)) or "none"),
                details={"found": sorted(found)},
            ),
            None,
        )
    if wanted in found:
        return (
            StepResult(
                step="fba_location",
                outcome=Outcome.OK,
                summary=f"fba location '{wanted}' found ({found[wanted]})",
                details={"location_id": found[wanted], "name": wanted, "created": False},
            ),
            found[wanted],
        )
    if not create:
        return (
            StepResult(
                step="fba_location",
                outcome=Outcome.PROBLEM,
                summary=f"shop {shop.name} has no location named '{wanted}' (fba_location of account "
                f"{account.name})",
                fix=f"run `starter.py onboard --account {account.name} --create-location` to create it, or "
                "create it in Shopify admin (Settings → Locations), or set fba_location to an existing "
                "location's name; locations found: " + (_names(sorted(found)) or "none"),
                details={"found": sorted(found)},
            ),
            None,
        )
    if not _has_scope(granted_scopes, CREATE_LOCATION_SCOPE):
        return (
            StepResult(
                step="fba_location",
                outcome=Outcome.PROBLEM,
                summary=f"no location named '{wanted}', and the app lacks `{CREATE_LOCATION_SCOPE}` to create it",
                fix=_scope_fix([CREATE_LOCATION_SCOPE], shop)
                + f", or create '{wanted}' in Shopify admin (Settings → Locations)",
                details={"found": sorted(found)},
            ),
            None,
        )
    country = account.market.country
    try:
        added = await shopify.add_location(wanted, country, fulfills_online_orders=False)
    except ShopifyError as e:
        summary, fix = _shopify_failure(e, shop, f"creating location '{wanted}'")
        return StepResult(step="fba_location", outcome=Outcome.PROBLEM, summary=summary, fix=fix), None
    if added.location_id is None:
        messages = "; ".join(f"{e.message} ({e.code})" for e in added.user_errors) or "no location returned"
        taken = any(e.code == "TAKEN" for e in added.user_errors)
        return (
            StepResult(
                step="fba_location",
                outcome=Outcome.PROBLEM,
                summary=f"Shopify would not create location '{wanted}': {messages}",
                fix=(
                    f"a location named '{wanted}' exists but is not active: activate it in Shopify admin "
                    "(Settings → Locations)"
                    if taken
                    else "fix the name (fba_location) or create the location in Shopify admin"
                ),
                details={"user_errors": [e.model_dump() for e in added.user_errors]},
            ),
            None,
        )
    log.info("fba location created", extra={"account": account.name, "location": added.location_id})
    return (
        StepResult(
            step="fba_location",
            outcome=Outcome.OK,
            summary=f"fba location '{wanted}' created ({added.location_id}, country {country})",
            fix="it does not fulfil online orders: Amazon ships from it; turn that on in Shopify admin only "
            "if Shopify should route orders to it (Multi-Channel Fulfilment)",
            details={"location_id": added.location_id, "name": wanted, "created": True},
        ),
        added.location_id,
    )


def check_warehouse_location(shop: ShopConfig, locations: dict[str, str]) -> StepResult:
    name = shop.warehouse_location
    present = name in locations or (name.startswith("gid://") and name in locations.values())
    if present:
        return StepResult(
            step="warehouse_location",
            outcome=Outcome.OK,
            summary=f"warehouse location '{name}' found",
            details={"location_id": locations.get(name, name)},
        )
    return StepResult(
        step="warehouse_location",
        outcome=Outcome.PROBLEM,
        summary=f"shop {shop.name} has no location named '{name}' (warehouse_location): sync cycles and "
        "removal cases write to it",
        fix="set shops.warehouse_location to the name of the merchant's own warehouse location; "
        "locations found: " + (_names(sorted(locations)) or "none"),
        details={"found": sorted(locations)},
    )


# --- 3. the catalogue ---------------------------------------------------------------------------------


async def read_amazon_snapshot(
    amazon: AmazonClient,
    clock: Clock,
    *,
    timeout_s: float = 1800,
    first_poll_s: float = 0.5,
    max_poll_s: float = 30,
) -> list[InventorySnapshotRow]:
    """Amazon's FBA inventory per MSKU now (GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA): request, poll with
    a growing interval, download, parse. CANCELLED (no data) is an empty catalogue."""
    now = clock.now()
    report_id = await amazon.create_report(flat_reports.INVENTORY_REPORT, now, now)
    deadline = time.monotonic() + timeout_s
    wait = first_poll_s
    while True:
        status = await amazon.get_report(report_id)
        if status.processing_status == "DONE":
            text = await amazon.download_document(status.document_id) if status.document_id else ""
            rows, issues = (
                await asyncio.to_thread(flat_reports.parse_inventory_report, text) if text else ([], [])
            )
            if issues:
                log.warning(
                    "inventory report lines not read", extra={"report": report_id, "issues": len(issues)}
                )
            return rows
        if status.processing_status == "CANCELLED":
            return []
        if status.processing_status == "FATAL":
            raise OnboardingError(f"Amazon's inventory report {report_id} failed (FATAL)")
        if time.monotonic() + wait > deadline:
            raise OnboardingError(
                f"Amazon's inventory report {report_id} was not ready within {timeout_s:.0f} s"
            )
        await asyncio.sleep(wait)
        wait = min(max_poll_s, wait * 2)


class Catalogue(BaseModel):
    """Amazon's MSKUs mapped through the SKU map and resolved in Shopify."""

    amazon: dict[str, tuple[int, int]]  # msku -> (sellable incl. reserved, unsellable)
    target: dict[str, tuple[str, int]]  # msku (Amazon's and the SKU map's) -> (Shopify SKU, pack)
    resolution: SkuResolution

    def mapped_items(self) -> dict[str, str]:
        """Shopify SKU -> inventory item of every SKU an Amazon MSKU maps to with exactly one variant."""
        skus = {self.target[m][0] for m in self.amazon}
        return {sku: item for sku, item in self.resolution.items.items() if sku in skus}


async def map_catalogue(
    shopify: ShopifyClient, account: AccountConfig, rows: Sequence[InventorySnapshotRow]
) -> Catalogue:
    amazon: dict[str, tuple[int, int]] = {}
    for r in rows:
        sellable, unsellable = amazon.get(r.msku, (0, 0))
        amazon[r.msku] = (sellable + r.sellable, unsellable + r.unsellable)
    mskus = [*amazon, *(o.msku for o in account.sku_map.overrides if o.msku not in amazon)]
    target = {m: account.sku_map.resolve(m) for m in mskus}
    resolution = await shopify.inventory_items_by_sku(sorted({sku for sku, _ in target.values()}))
    return Catalogue(amazon=amazon, target=target, resolution=resolution)


def unmapped_skus(catalogue: Catalogue, account: AccountConfig) -> StepResult:
    missing = set(catalogue.resolution.missing)
    rows = [
        {
            "msku": m,
            "shopify_sku": catalogue.target[m][0],
            "pack": catalogue.target[m][1],
            "amazon_sellable": sellable,
            "amazon_unsellable": unsellable,
        }
        for m, (sellable, unsellable) in sorted(catalogue.amazon.items())
        if catalogue.target[m][0] in missing
    ]
    if not rows:
        return StepResult(
            step="unmapped_skus",
            outcome=Outcome.OK,
            summary=f"every one of Amazon's {len(catalogue.amazon)} MSKUs maps to a Shopify variant",
            details={"unmapped": []},
        )
    names = [
        r["msku"] if r["msku"] == r["shopify_sku"] else f"{r['msku']} (as {r['shopify_sku']})" for r in rows
    ]
    return StepResult(
        step="unmapped_skus",
        outcome=Outcome.PROBLEM,
        summary=f"{len(rows)} Amazon MSKU(s) have no Shopify variant through the SKU map: {_names(names)}",
        fix="give the variant that SKU in Shopify, or map the MSKU to the right Shopify SKU in the SKU map "
        f"(sku_map_csv of account {account.name}: msku,shopify_sku,pack); until then their Amazon rows "
        "are quarantined (nothing is lost) and retried every cycle — `starter.py quarantine list`",
        details={"unmapped": rows},
    )


def duplicate_skus(catalogue: Catalogue) -> StepResult:
    by_sku: dict[str, list[str]] = {}
    for m, (sku, _) in catalogue.target.items():
        by_sku.setdefault(sku, []).append(m)
    rows = [
        {"shopify_sku": sku, "inventory_item_ids": items, "mskus": sorted(by_sku.get(sku, []))}
        for sku, items in sorted(catalogue.resolution.duplicates.items())
    ]
    if not rows:
        return StepResult(
            step="duplicate_skus",
            outcome=Outcome.OK,
            summary="no mapped Shopify SKU belongs to more than one variant",
            details={"duplicates": []},
        )
    names = [f"{r['shopify_sku']} ({len(r['inventory_item_ids'])} variants)" for r in rows]
    return StepResult(
        step="duplicate_skus",
        outcome=Outcome.PROBLEM,
        summary=f"{len(rows)} Shopify SKU(s) belong to several variants, so Amazon's units cannot be "
        f"placed: {_names(names)}",
        fix="give each variant its own SKU in Shopify (or delete the extra variant); until then the "
        "rows of these SKUs are quarantined and the baseline cannot be confirmed",
        details={"duplicates": rows},
    )


def missing_at_amazon(
    catalogue: Catalogue, account: AccountConfig, stocked_at_fba: Sequence[tuple[str, str]] | None
) -> StepResult:
    """SKU-map entries whose MSKU Amazon does not list, and SKUs stocked at the fba location that no
    Amazon MSKU maps to (`stocked_at_fba`: (sku, inventory item) pairs; None when not read)."""
    rows: list[dict[str, Any]] = [
        {
            "shopify_sku": o.shopify_sku,
            "msku": o.msku,
            "why": "the SKU map names this MSKU; Amazon's inventory does not list it",
            "in_shopify": o.shopify_sku in catalogue.resolution.items
            or o.shopify_sku in catalogue.resolution.duplicates,
        }
        for o in account.sku_map.overrides
        if o.msku not in catalogue.amazon
    ]
    targets = {catalogue.target[m][0] for m in catalogue.amazon}
    named = {r["shopify_sku"] for r in rows}
    for sku, item in sorted(stocked_at_fba or []):
        if sku not in targets and sku not in named:
            rows.append(
                {
                    "shopify_sku": sku,
                    "inventory_item_id": item,
                    "why": "stocked at the fba location; no Amazon MSKU maps to it",
                    "in_shopify": True,
                }
            )
            named.add(sku)
    if not rows:
        return StepResult(
            step="missing_at_amazon",
            outcome=Outcome.OK,
            summary="every mapped Shopify SKU is listed at Amazon",
            details={"missing": []},
        )
    return StepResult(
        step="missing_at_amazon",
        outcome=Outcome.WARNING,
        summary=f"{len(rows)} mapped Shopify SKU(s) are not in Amazon's inventory: "
        f"{_names([r['shopify_sku'] for r in rows])}",
        fix="if Amazon really holds none, nothing to do (the baseline counts them as 0 at Amazon); "
        "otherwise correct the SKU map or the SKU in Shopify",
        details={"missing": rows},
    )


# --- 4. activation ------------------------------------------------------------------------------------


async def activate_mapped_items(
    shopify: ShopifyClient, items: dict[str, str], location_id: str
) -> StepResult:
    """Stock every mapped item at the fba location where it is not stocked yet, then read them back:
    each must be there with 0."""
    if not items:
        return StepResult(step="activation", outcome=Outcome.OK, summary="no mapped items to stock")
    stocked = await shopify.quantities(list(items.values()), [location_id], names=("available",))
    todo = {sku: item for sku, item in sorted(items.items()) if (item, location_id) not in stocked}
    if not todo:
        return StepResult(
            step="activation",
            outcome=Outcome.OK,
            summary=f"all {len(items)} mapped items are stocked at the fba location already",
            details={"already_stocked": len(items), "activated": []},
        )
    gate = asyncio.Semaphore(ACTIVATE_CONCURRENCY)

    async def one(sku: str, item: str) -> tuple[str, list[str]]:
        async with gate:
            outcome = await shopify.activate_inventory(item, [location_id])
        return sku, [f"{e.message} ({e.code})" for e in outcome.user_errors]

    answers = await asyncio.gather(*(one(sku, item) for sku, item in todo.items()), return_exceptions=True)
    for answer in answers:  # a failed call (token, scope, Shopify down): reported in words by the caller
        if isinstance(answer, BaseException):
            raise answer
    results = [a for a in answers if not isinstance(a, BaseException)]
    failed = {sku: errors for sku, errors in results if errors}
    done = {sku: todo[sku] for sku, _ in results if sku not in failed}
    after = await shopify.quantities(list(done.values()), [location_id], names=("available", "on_hand"))
    not_there = sorted(sku for sku, item in done.items() if (item, location_id) not in after)
    for sku in not_there:
        failed[sku] = ["not stocked at the location after Shopify accepted the activation"]
    activated = [
        {"shopify_sku": sku, "inventory_item_id": item, "quantities": after[(item, location_id)]}
        for sku, item in done.items()
        if sku not in failed
    ]
    details: dict[str, Any] = {
        "already_stocked": len(items) - len(todo),
        "activated": activated,
        "failed": [{"shopify_sku": s, "errors": e} for s, e in sorted(failed.items())],
    }
    if failed:
        return StepResult(
            step="activation",
            outcome=Outcome.PROBLEM,
            summary=f"{len(failed)} of {len(todo)} mapped items could not be stocked at the fba location: "
            + _names([f"{s}: {'; '.join(e)}" for s, e in sorted(failed.items())], 3),
            fix="fix what Shopify says (e.g. an item managed by another fulfilment service, a variant "
            "without SKU), or stock them at the location in Shopify admin, then run onboarding again",
            details=details,
        )
    return StepResult(
        step="activation",
        outcome=Outcome.OK,
        summary=f"stocked {len(activated)} mapped item(s) at the fba location, where they show 0 now: "
        f"{_names([a['shopify_sku'] for a in activated])}; {len(items) - len(todo)} were stocked there already",
        details=details,
    )


# --- 5. the baseline ----------------------------------------------------------------------------------


def preview_counts(csv_path: str | Path) -> dict[str, int]:
    """What a reconciliation CSV proposes: changes with a correction, their units up and down, SKUs,
    and differences with nothing to correct (not stocked at the fba location)."""
    changes = up = down = uncorrectable = 0
    skus: set[str] = set()
    with Path(csv_path).open(newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("correction"):
                uncorrectable += 1
                continue
            delta = int(row["correction"])
            changes += 1
            skus.add(row["sku"])
            up += max(0, delta)
            down += max(0, -delta)
    return {
        "changes": changes,
        "units_up": up,
        "units_down": down,
        "skus": len(skus),
        "uncorrectable": uncorrectable,
    }


async def _worker_polls(client: Client, task_queue: str, wait_s: float = 10.0) -> bool:
    """Whether some worker polls the task queue (re-checked for `wait_s`: one may be starting)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            answer = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except Exception:  # an older server or missing permission: do not block on the check itself
            return True
        if answer.pollers:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(1.0)


async def set_baseline(
    client: Client,
    settings: Settings,
    account: AccountConfig,
    *,
    confirm: bool,
    on_progress: Callable[[str], None] | None = None,
    timeout_s: float = 3600,
) -> StepResult:
    """A shadow full reconciliation (the preview), or with `confirm` the normal one (held corrections)."""
    task_queue = settings.temporal.task_queue
    if not await _worker_polls(client, task_queue):
        return StepResult(
            step="baseline",
            outcome=Outcome.PROBLEM,
            summary=f"no worker polls task queue '{task_queue}', so the reconciliation would not run",
            fix="start the worker (`python worker.py`) with the same config, then run onboarding again",
        )
    try:
        handle = await control.start_reconciliation(client, settings, account.name, shadow=not confirm)
    except Exception as e:  # e.g. a reconciliation of this account started this very second
        return StepResult(
            step="baseline",
            outcome=Outcome.PROBLEM,
            summary=f"the reconciliation could not be started: {e}",
            fix="run onboarding again in a moment",
        )
    if on_progress is not None:
        on_progress(f"{'full' if confirm else 'shadow'} reconciliation {handle.id} started")
    result = asyncio.ensure_future(handle.result())
    shown = ""
    deadline = time.monotonic() + timeout_s
    try:
        while not result.done():
            await asyncio.wait([result], timeout=2)
            if time.monotonic() > deadline:
                return StepResult(
                    step="baseline",
                    outcome=Outcome.PROBLEM,
                    summary=f"reconciliation {handle.id} did not finish within {timeout_s:.0f} s",
                    fix=f"follow it in the Temporal UI ({settings.temporal.ui_url}); its report appears in "
                    f"{settings.reports_dir} when it ends",
                    details={"workflow_id": handle.id},
                )
            try:
                progress = await handle.query("progress")
            except Exception:
                continue
            if progress != shown and on_progress is not None:
                on_progress(str(progress))
            shown = progress
        summary: ReconcileSummary = result.result()
    except Exception as e:
        return StepResult(
            step="baseline",
            outcome=Outcome.PROBLEM,
            summary=f"reconciliation {handle.id} failed: {getattr(e, 'cause', None) or e}",
            fix=f"see the workflow in the Temporal UI ({settings.temporal.ui_url}), then run onboarding again",
            details={"workflow_id": handle.id},
        )
    finally:
        if not result.done():
            result.cancel()
    counts = preview_counts(summary.report_csv) if summary.report_csv else {}
    details = {"workflow_id": handle.id, **summary.model_dump(), **counts}
    nothing = (
        f"; {counts['uncorrectable']} difference(s) have nothing to correct (no Shopify variant stocked at "
        "the fba location)"
        if counts.get("uncorrectable")
        else ""
    )
    if not confirm:
        return StepResult(
            step="baseline",
            outcome=Outcome.OK,
            summary=f"preview (shadow run, nothing written or held): {counts.get('changes', 0)} change(s) the "
            f"baseline would hold for approval, +{counts.get('units_up', 0)} / −{counts.get('units_down', 0)} "
            f"units over {counts.get('skus', 0)} SKU(s){nothing}. Preview CSV: {summary.report_csv}",
            fix=f"review the CSV (report: {summary.report_md}), then run "
            f"`starter.py onboard --account {account.name} --confirm` to set the baseline",
            details=details,
        )
    return StepResult(
        step="baseline",
        outcome=Outcome.OK,
        summary=f"baseline set: {summary.corrections_held} correction(s) held for approval "
        f"(+{counts.get('units_up', 0)} / −{counts.get('units_down', 0)} units){nothing}. "
        f"Report: {summary.report_md}",
        fix="review them with `starter.py holds list`, approve with `starter.py approve ID… --by NAME` (or "
        "reject); then `starter.py schedules apply` starts the sync cycles and the gate writes what was approved",
        details=details,
    )


# --- the whole ----------------------------------------------------------------------------------------


async def onboard(
    settings: Settings,
    account_name: str,
    clients: Clients,
    connect: Callable[[], Awaitable[Client]],
    *,
    create_location: bool = False,
    confirm: bool = False,
    on_step: Callable[[StepResult], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    report_timeout_s: float = 1800,
    baseline_timeout_s: float = 3600,
) -> OnboardingReport:
    """Every step in order (see the module docstring); `connect` is called only for the baseline."""
    account = settings.account(account_name)
    shop = settings.shop(account.shop)
    report = OnboardingReport(account=account.name, shop=shop.name, confirm=confirm)

    def done(result: StepResult) -> StepResult:
        report.steps.append(result)
        log.info(
            "onboarding step",
            extra={"account": account.name, "step": result.step, "outcome": str(result.outcome)},
        )
        if on_step is not None:
            on_step(result)
        return result

    def skip(step: str, because: str) -> None:
        done(StepResult(step=step, outcome=Outcome.SKIPPED, summary=f"not checked: {because}"))

    def problem(step: str, summary: str, fix: str) -> None:
        done(StepResult(step=step, outcome=Outcome.PROBLEM, summary=summary, fix=fix))

    def progress(text: str) -> None:
        if on_progress is not None:
            on_progress(text)

    # 1. credentials and scopes (both sides, whatever the other says)
    try:
        shopify: ShopifyClient | None = clients.shopify(shop.name)
    except ConfigError as e:
        shopify = None
        problem(
            "shopify_access",
            str(e),
            f"put the app's Admin API access token into {shop.access_token_env} (environment or secrets file)",
        )
    granted: set[str] = set()
    shopify_ok = False
    if shopify is not None:
        access = done(await check_shopify_access(shopify, shop))
        shopify_ok, granted = access.outcome is Outcome.OK, set(access.details.get("granted", []))
    try:
        amazon: AmazonClient | None = clients.amazon(account.name)
    except ConfigError as e:
        amazon = None
        problem(
            "amazon_access",
            str(e),
            f"put the LWA client id, client secret and refresh token into {account.lwa_client_id_env}, "
            f"{account.lwa_client_secret_env} and {account.refresh_token_env} (environment or secrets file)",
        )
    amazon_ok = amazon is not None and done(await check_amazon_access(amazon, account)).outcome in (
        Outcome.OK,
        Outcome.WARNING,
    )

    # 2. locations
    location_id: str | None = None
    if shopify_ok and shopify is not None:
        try:
            locations = await shopify.locations()
        except ShopifyError as e:
            summary, fix = _shopify_failure(e, shop, "listing locations")
            problem("fba_location", summary, fix)
            skip("warehouse_location", "the locations could not be listed")
        else:
            result, location_id = await ensure_fba_location(
                shopify, account, shop, create=create_location, granted_scopes=granted, locations=locations
            )
            done(result)
            done(check_warehouse_location(shop, locations))
    else:
        skip("fba_location", "Shopify access failed")
        skip("warehouse_location", "Shopify access failed")

    # 3. the catalogue: Amazon's MSKUs through the SKU map into Shopify
    catalogue: Catalogue | None = None
    if amazon_ok and amazon is not None:
        progress("reading Amazon's FBA inventory (the inventory report)…")
        try:
            rows = await read_amazon_snapshot(amazon, settings.clock, timeout_s=report_timeout_s)
        except (AmazonError, OnboardingError) as e:
            if isinstance(e, AmazonError):
                summary, fix = _amazon_failure(e, account, "reading the inventory report")
            else:
                summary, fix = str(e), "run onboarding again later; Amazon's reports sometimes fail"
            problem("amazon_catalogue", summary, fix)
        else:
            done(
                StepResult(
                    step="amazon_catalogue",
                    outcome=Outcome.OK,
                    summary=f"Amazon lists {len(rows)} MSKU(s): {sum(r.sellable for r in rows)} sellable and "
                    f"{sum(r.unsellable for r in rows)} unfulfillable unit(s)",
                    details={"mskus": len(rows)},
                )
            )
            if shopify_ok and shopify is not None:
                try:
                    catalogue = await map_catalogue(shopify, account, rows)
                except ShopifyError as e:
                    summary, fix = _shopify_failure(e, shop, "looking up SKUs")
                    problem("unmapped_skus", summary, fix)
                    skip("duplicate_skus", "the SKUs could not be looked up in Shopify")
                    skip("missing_at_amazon", "the SKUs could not be looked up in Shopify")
    else:
        skip("amazon_catalogue", "Amazon access failed")
    if catalogue is not None:
        done(unmapped_skus(catalogue, account))
        done(duplicate_skus(catalogue))
        stocked: list[tuple[str, str]] | None = None
        if location_id is not None and shopify is not None:
            progress("reading what the fba location stocks (a bulk operation)…")
            try:
                levels = await shopify.location_snapshot(location_id)
                stocked = [(lv.sku, lv.inventory_item_id) for lv in levels if lv.sku]
            except ShopifyError as e:  # only a note is lost: say so and go on
                log.warning("fba location snapshot failed", extra={"account": account.name, "error": str(e)})
        done(missing_at_amazon(catalogue, account, stocked))
    elif report.step("unmapped_skus") is None:
        for step in ("unmapped_skus", "duplicate_skus", "missing_at_amazon"):
            skip(step, "Amazon's or Shopify's catalogue could not be read")

    # 4. activation
    if catalogue is not None and location_id is not None and shopify is not None:
        try:
            done(await activate_mapped_items(shopify, catalogue.mapped_items(), location_id))
        except ShopifyError as e:
            summary, fix = _shopify_failure(e, shop, "stocking items at the fba location")
            problem("activation", summary, fix)
    else:
        skip("activation", "the fba location or the catalogue is missing")

    # 5. the baseline
    needed = {"shopify_access", "amazon_access", "fba_location"} | (BLOCKS_CONFIRM if confirm else set())
    blocking = [
        s.step for s in report.steps if s.step in needed and s.outcome in (Outcome.PROBLEM, Outcome.SKIPPED)
    ]
    if blocking:
        skip("baseline", f"fix {', '.join(blocking)} first")
        return report
    try:
        client = await connect()
    except Exception as e:
        problem(
            "baseline",
            f"cannot reach Temporal at {settings.temporal.address}: {e}",
            "start Temporal (or fix [temporal] in the config), then run onboarding again",
        )
        return report
    done(
        await set_baseline(
            client, settings, account, confirm=confirm, on_progress=on_progress, timeout_s=baseline_timeout_s
        )
    )
    return report


__all__ = [
    "OnboardingReport",
    "Outcome",
    "StepResult",
    "activate_mapped_items",
    "check_amazon_access",
    "check_shopify_access",
    "ensure_fba_location",
    "onboard",
    "preview_counts",
    "set_baseline",
]
