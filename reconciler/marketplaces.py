"""Amazon marketplaces the product knows: id, the country on ledger rows, and the local time zone
that Amazon's ledger dates are written in."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Marketplace:
    code: str
    marketplace_id: str
    country: str
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


MARKETPLACES: dict[str, Marketplace] = {
    m.code: m
    for m in [
        Marketplace("US", "ATVPDKIKX0DER", "US", "America/Los_Angeles"),
        Marketplace("CA", "A2EUQ1WTGCTBG2", "CA", "America/Los_Angeles"),
        Marketplace("MX", "A1AM78C64UM0Y8", "MX", "America/Los_Angeles"),
        Marketplace("UK", "A1F83G8C2ARO7P", "GB", "Europe/London"),
        Marketplace("DE", "A1PA6795UKMFR9", "DE", "Europe/Berlin"),
        Marketplace("FR", "A13V1IB3VIYZZH", "FR", "Europe/Paris"),
        Marketplace("IT", "APJ6JRA9NG5V4", "IT", "Europe/Rome"),
        Marketplace("ES", "A1RKKUPIHCS9HS", "ES", "Europe/Madrid"),
        Marketplace("JP", "A1VC38T7YXB528", "JP", "Asia/Tokyo"),
        Marketplace("AU", "A39IBJ37TRP1C6", "AU", "Australia/Sydney"),
    ]
}


def marketplace(code: str) -> Marketplace:
    try:
        return MARKETPLACES[code.upper()]
    except KeyError:
        raise ValueError(f"unknown marketplace {code!r}; known: {', '.join(sorted(MARKETPLACES))}") from None
