"""The worker's API clients, one per Amazon account and one per Shopify shop, built from the
configuration and its secrets. Secrets are read here and nowhere else."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integrations.amazon.client import AmazonClient, SpApiCredentials
from integrations.shopify.client import ShopifyClient
from reconciler.config import Settings
from reconciler.ledger.ingest import ResolvedSku
from reconciler.ledger.tables import ShopifyItemRef


class Clients:
    def __init__(
        self, settings: Settings, *, shopify_timeout_s: float = 30.0, amazon_timeout_s: float = 30.0
    ) -> None:
        self._settings = settings
        self._amazon: dict[str, AmazonClient] = {}
        self._shopify: dict[str, ShopifyClient] = {}
        self._locations: dict[str, dict[str, str]] = {}
        self._shopify_timeout_s = shopify_timeout_s
        self._amazon_timeout_s = amazon_timeout_s

    @property
    def settings(self) -> Settings:
        return self._settings

    def amazon(self, account: str) -> AmazonClient:
        if account not in self._amazon:
            a = self._settings.account(account)
            creds = SpApiCredentials(
                refresh_token=self._settings.secret(a.refresh_token_env),
                lwa_app_id=self._settings.secret(a.lwa_client_id_env).get_secret_value(),
                lwa_client_secret=self._settings.secret(a.lwa_client_secret_env),
            )
            self._amazon[account] = AmazonClient(
                creds,
                a.market.marketplace_id,
                endpoint=a.endpoint,
                lwa_endpoint=a.lwa_endpoint,
                timeout_s=self._amazon_timeout_s,
            )
        return self._amazon[account]

    def shopify(self, shop: str) -> ShopifyClient:
        if shop not in self._shopify:
            s = self._settings.shop(shop)
            self._shopify[shop] = ShopifyClient(
                s.domain,
                self._settings.secret(s.access_token_env).get_secret_value(),
                api_version=s.api_version,
                base_url=s.base_url,
                timeout_s=self._shopify_timeout_s,
                app_name=s.app_name,
            )
        return self._shopify[shop]

    async def location_ids(self, shop: str) -> dict[str, str]:
        """Location name → gid (cached; ids given as gids in the config pass through)."""
        if shop not in self._locations:
            self._locations[shop] = await self.shopify(shop).locations()
        return self._locations[shop]

    async def location_id(self, shop: str, name_or_id: str) -> str:
        if name_or_id.startswith("gid://"):
            return name_or_id
        ids = await self.location_ids(shop)
        if name_or_id not in ids:
            self._locations.pop(shop, None)
            ids = await self.location_ids(shop)
        if name_or_id not in ids:
            raise LookupError(f"shop {shop}: no location named {name_or_id!r} (found: {sorted(ids)})")
        return ids[name_or_id]

    async def resolve_skus(self, engine: Engine, account: str, mskus: set[str]) -> dict[str, ResolvedSku]:
        """MSKU → Shopify SKU, pack and inventory item, through the SKU map and a cached lookup in Shopify.
        SKUs Shopify doesn't have resolve to inventory_item_id None (their rows are quarantined)."""
        a = self._settings.account(account)
        wanted = {m: a.sku_map.resolve(m) for m in mskus}
        shopify_skus = {s for s, _ in wanted.values()}
        with Session(engine) as s:
            known = {
                r.sku: r.inventory_item_id
                for r in s.exec(
                    select(ShopifyItemRef).where(
                        ShopifyItemRef.shop == a.shop, col(ShopifyItemRef.sku).in_(shopify_skus)
                    )
                )
            }
        missing = sorted(shopify_skus - set(known))
        if missing:
            found = await self.shopify(a.shop).inventory_items_by_sku(missing)
            with Session(engine) as s, s.begin():
                for sku, item_id in found.items.items():
                    if s.get(ShopifyItemRef, (a.shop, sku)) is None:
                        s.add(ShopifyItemRef(shop=a.shop, sku=sku, inventory_item_id=item_id))
            known.update(found.items)
        return {
            m: ResolvedSku(shopify_sku=sku, pack=pack, inventory_item_id=known.get(sku))
            for m, (sku, pack) in wanted.items()
        }

    async def aclose(self) -> None:
        for c in self._amazon.values():
            await c.aclose()
        for s in self._shopify.values():
            await s.aclose()
        self._amazon.clear()
        self._shopify.clear()
