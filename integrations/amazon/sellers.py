"""Sellers API v1 `getMarketplaceParticipations`: the marketplaces the seller can sell in. Onboarding
calls it to prove that the LWA credentials work (a fresh token exchange) and that the account's
marketplace is one the seller participates in.

It goes through python-amazon-sp-api's async `Sellers` client and the `AmazonClient`'s own plumbing
(its endpoint, transport, LWA token client and rate limiter), so it behaves like the client's other
operations; it lives in its own module because only onboarding needs it. Never imports Temporal.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sp_api.asyncio.api import Sellers

from integrations.amazon.client import AmazonClient


class MarketplaceParticipation(BaseModel):
    """One `MarketplaceParticipation` of the Sellers API, flattened."""

    marketplace_id: str
    name: str = ""
    country_code: str = ""
    currency: str = ""
    language: str = ""
    domain: str = ""
    is_participating: bool = False
    has_suspended_listings: bool = False


def _participation(entry: dict[str, Any]) -> MarketplaceParticipation:
    market = entry.get("marketplace") or {}
    participation = entry.get("participation") or {}
    return MarketplaceParticipation(
        marketplace_id=str(market.get("id", "")),
        name=str(market.get("name", "")),
        country_code=str(market.get("countryCode", "")),
        currency=str(market.get("defaultCurrencyCode", "")),
        language=str(market.get("defaultLanguageCode", "")),
        domain=str(market.get("domainName", "")),
        is_participating=bool(participation.get("isParticipating")),
        has_suspended_listings=bool(participation.get("hasSuspendedListings")),
    )


async def marketplace_participations(
    client: AmazonClient, *, fresh_token: bool = True
) -> list[MarketplaceParticipation]:
    """Every marketplace the seller can sell in, with its participation. `fresh_token`: forget any
    cached access token first, so that the LWA exchange itself is tested. Raises `AmazonApiError`
    (LWA's `invalid_client` / `invalid_grant` with status 400/401, SP-API 403 `Unauthorized`),
    `RateLimited` or `AmazonUnavailable` like every other operation."""
    sellers = client._library_client(Sellers)
    try:
        if fresh_token:
            client._forget_token(sellers)
        response = await client._call(
            "getMarketplaceParticipations", sellers, lambda: sellers.get_marketplace_participation()
        )
        return [_participation(e) for e in response.payload or [] if isinstance(e, dict)]
    finally:
        await sellers.aclose()
        await sellers._auth.aclose()


__all__ = ["MarketplaceParticipation", "marketplace_participations"]
