"""Configuration: a TOML file plus environment, validated as a whole.

Secrets (LWA client secret, refresh tokens, Shopify access tokens) are never written in the file and
never travel in workflow inputs: the file names the environment variables (or the keys of a secrets
file) that hold them, and only the worker and the CLI read them.
"""

from __future__ import annotations

import csv
import os
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.clock import Clock
from reconciler.marketplaces import MARKETPLACES, Marketplace, marketplace
from reconciler.models import ShipmentsSource


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names every bad field."""


class Rules(BaseModel):
    """Business settings of one account; scenario `config` blocks override these keys (and only these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shipments_source: ShipmentsSource = ShipmentsSource.ORDERS
    track_unfulfillable: bool = True
    inbound_decrements_warehouse: bool = True
    large_delta_units: int = Field(default=50, ge=0)
    large_delta_pct: float = Field(default=25, ge=0)
    return_window_days: float = Field(default=45, gt=0)
    reimbursement_window_days: float = Field(default=30, gt=0)
    lost_research_days: float = Field(default=30, gt=0)
    claim_window_days: float = Field(default=60, gt=0)
    removal_overdue_days: float = Field(default=14, gt=0)
    removal_auto_receive_days: float | None = Field(default=None, gt=0)
    backfill_days: int = Field(default=7, ge=0, le=30)
    ledger_min_interval_minutes: float = Field(default=30, ge=0, description="business minutes")
    orders_min_interval_minutes: float = Field(default=2, ge=0, description="business minutes")
    # Full reconciliation's Amazon snapshot: "report" (the MYI inventory report, any size), "summaries"
    # (getInventorySummaries: 50 SKUs a page, 2 pages a second) or "auto": summaries while the
    # account's catalogue is at most `summaries_max_skus` SKUs, the report above that or when unknown.
    # The report is the default: it says when its stock was taken (`processingStartTime`), which the
    # comparison and the absorbing of late rows depend on; summaries carry no such time, so their
    # snapshot is only known to within one request's round trip.
    reconcile_snapshot: Literal["auto", "report", "summaries"] = "report"
    summaries_max_skus: int = Field(default=500, ge=0, le=100_000)


class SkuOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    msku: str = Field(min_length=1)
    shopify_sku: str = Field(min_length=1)
    pack: int = Field(default=1, ge=1)


class SkuMap(BaseModel):
    """Amazon MSKU → (Shopify SKU, pack). Equal SKU by default; overrides from config or a CSV
    (`msku,shopify_sku,pack`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    overrides: list[SkuOverride] = Field(default_factory=list)

    def resolve(self, msku: str) -> tuple[str, int]:
        for o in self.overrides:
            if o.msku == msku:
                return o.shopify_sku, o.pack
        return msku, 1

    def as_dict(self) -> dict[str, tuple[str, int]]:
        return {o.msku: (o.shopify_sku, o.pack) for o in self.overrides}

    @staticmethod
    def read_csv(path: Path) -> list[SkuOverride]:
        out: list[SkuOverride] = []
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = {"msku", "shopify_sku"} - set(reader.fieldnames or [])
            if missing:
                raise ConfigError(
                    f"{path}:1: missing column(s) {', '.join(sorted(missing))} "
                    "(the header must be msku,shopify_sku[,pack])"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    out.append(
                        SkuOverride(
                            msku=row["msku"], shopify_sku=row["shopify_sku"], pack=int(row.get("pack") or 1)
                        )
                    )
                except (ValueError, ValidationError) as e:
                    raise ConfigError(f"{path}:{line}: bad SKU map row {row!r}: {e}") from e
        return out


class ShopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    domain: str = Field(min_length=3)
    api_version: str = "2026-04"
    access_token_env: str = Field(
        min_length=1, description="environment variable holding the Admin API token"
    )
    base_url: str | None = None  # the sandbox; None = https://{domain}
    warehouse_location: str = "Warehouse"
    app_name: str = "fba-reconciler"


class AccountConfig(BaseModel):
    """One Amazon inventory pool (an FBA marketplace or a unified pool) and where it lands in Shopify."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    marketplace: str = "US"
    shop: str
    fba_location: str
    lwa_client_id_env: str = "SP_API_LWA_CLIENT_ID"
    lwa_client_secret_env: str = "SP_API_LWA_CLIENT_SECRET"
    refresh_token_env: str = "SP_API_REFRESH_TOKEN"
    endpoint: str | None = None  # the sandbox; None = Amazon's regional endpoint
    lwa_endpoint: str | None = None
    rules: Rules = Field(default_factory=Rules)
    sku_map: SkuMap = Field(default_factory=SkuMap)
    sku_map_csv: Path | None = None
    # Amazon requires the LWA client secret to be rotated every 180 days; the watchdog warns before.
    lwa_secret_rotated_on: date | None = None

    @field_validator("lwa_secret_rotated_on")
    @classmethod
    def _rotated_in_the_past(cls, v: date | None) -> date | None:
        # A day of slack for time zones; a later date is a typo that would silence the warning.
        if v is not None and v > datetime.now(UTC).date() + timedelta(days=1):
            raise ValueError(f"{v.isoformat()} is in the future; give the day the secret was last rotated")
        return v

    @field_validator("marketplace")
    @classmethod
    def _known_marketplace(cls, v: str) -> str:
        if v.upper() not in MARKETPLACES:
            raise ValueError(f"unknown marketplace {v!r}; known: {', '.join(sorted(MARKETPLACES))}")
        return v.upper()

    @property
    def market(self) -> Marketplace:
        return marketplace(self.marketplace)


class TemporalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "fba-reconciler"
    tls: bool = False
    api_key_env: str | None = None
    ui_url: str = "http://127.0.0.1:8233"


class AlertsConfig(BaseModel):
    """Alert delivery (ops/alert_delivery.py): every alert goes to the log; to a Slack-compatible
    webhook too when `webhook_url_env` names the variable (or secrets-file key) holding its URL."""

    model_config = ConfigDict(extra="forbid")
    webhook_url_env: str | None = Field(
        default=None, min_length=1, description="environment variable holding the webhook URL (a secret)"
    )
    cooldown_minutes: float = Field(
        default=60, ge=0, description="the same kind and key is not sent again within this (real) time"
    )
    poll_seconds: float = Field(default=10, gt=0, description="real seconds between delivery passes")
    # The watchdog (workflows/watchdog.py, reconciler/watchdog.py): lasting situations nobody raises
    # an alert for at the source. `schedules apply` after changing watchdog_minutes.
    watchdog_minutes: float = Field(default=15, gt=0, description="real minutes between watchdog runs")
    stale_sync_days: float = Field(
        default=0.25, gt=0, description="business days without a successful cycle of an account"
    )
    failing_cycles: int = Field(default=3, ge=1, description="an account's last N cycles all failed")
    paused_too_long_hours: float = Field(default=24, gt=0, description="real hours a gate may stay paused")
    sustained_runs: int = Field(
        default=3, ge=2, description="the same SKU differed in this many consecutive full reconciliations"
    )
    rotation_warn_days: int = Field(
        default=14, ge=0, le=179, description="warn this many days before the LWA client secret is due"
    )


class Settings(BaseSettings):
    """The whole configuration. Environment variables `RECON_…` (nested with `__`) override the file."""

    model_config = SettingsConfigDict(env_prefix="RECON_", env_nested_delimiter="__", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls,
        init_settings,
        env_settings,
        dotenv_settings,  # type: ignore[no-untyped-def, override]
        file_secret_settings,
    ):
        # The environment overrides the file (whose values arrive as init arguments).
        return env_settings, init_settings, dotenv_settings, file_secret_settings

    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    ledger_url: str = "sqlite:///fba-reconciler.db"
    cycle_interval_minutes: float = Field(default=15, gt=0)
    gate_poll_seconds: float = Field(
        default=60, gt=0, description="real seconds between gate passes when idle"
    )
    clock: Clock = Field(default_factory=Clock)
    activity_max_retry_interval_s: float = Field(default=60, gt=0)
    http_timeout_s: float = Field(default=30, gt=0, description="per request, Shopify and Amazon")
    metrics_port: int | None = Field(
        default=9464,
        ge=0,
        le=65535,
        description="port of the worker's Prometheus /metrics endpoint (ops/metrics.py); 0 or None: off",
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    secrets_file: Path | None = None
    reports_dir: Path = Field(
        default=Path("var/reports"), description="where reconciliation reports are written"
    )
    shops: list[ShopConfig]
    accounts: list[AccountConfig]

    @field_validator("ledger_url")
    @classmethod
    def _known_database(cls, v: str) -> str:
        if not v.startswith(("sqlite", "postgresql")):
            raise ValueError(f"{v!r} must be a sqlite:// or postgresql:// URL")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = _cross_field_problems(
            [s.name for s in self.shops], [(a.name, a.shop) for a in self.accounts]
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def shop(self, name: str) -> ShopConfig:
        for s in self.shops:
            if s.name == name:
                return s
        raise ConfigError(f"no shop named {name!r}; configured: {[s.name for s in self.shops]}")

    def account(self, name: str) -> AccountConfig:
        for a in self.accounts:
            if a.name == name:
                return a
        raise ConfigError(f"no account named {name!r}; configured: {[a.name for a in self.accounts]}")

    def accounts_of(self, shop: str) -> list[AccountConfig]:
        return [a for a in self.accounts if a.shop == shop]

    # --- secrets --------------------------------------------------------------------------------
    def secret(self, env_name: str) -> SecretStr:
        value = os.environ.get(env_name)
        if value is None and self.secrets_file is not None:
            value = _read_secrets_file(self.secrets_file).get(env_name)
        if not value:
            where = f"the environment or {self.secrets_file}" if self.secrets_file else "the environment"
            raise ConfigError(f"secret {env_name} is not set in {where}")
        return SecretStr(value)

    def retry_cap(self) -> timedelta:
        return timedelta(seconds=self.activity_max_retry_interval_s)


def _cross_field_problems(shop_names: list[str], accounts: list[tuple[str, str]]) -> list[str]:
    """Problems between fields, each `path: what`; shared by validation and error reporting."""
    problems = []
    if len(set(shop_names)) != len(shop_names):
        problems.append("shops: duplicate shop names")
    names = [name for name, _ in accounts]
    if len(set(names)) != len(names):
        problems.append("accounts: duplicate account names")
    for i, (_, shop) in enumerate(accounts):
        if shop not in shop_names:
            problems.append(f"accounts.{i}.shop: {shop!r} is not one of the configured shops {shop_names}")
    return problems


def _raw_cross_field_problems(data: dict[str, Any]) -> list[str]:
    """The cross-field checks on unvalidated input, so that one error names them with the field errors
    (pydantic skips the model validator when a field is invalid)."""

    def dicts(key: str) -> list[dict[str, Any]]:
        value = data.get(key)
        return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []

    shops = [str(s.get("name")) for s in dicts("shops")]
    accounts = [(str(a.get("name")), str(a.get("shop"))) for a in dicts("accounts")]
    return _cross_field_problems(shops, accounts)


def _read_secrets_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"secrets_file: {path} not found") from None
    if path.suffix == ".toml":
        return {k: str(v) for k, v in tomllib.loads(text).items()}
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out


def format_validation_error(e: ValidationError, source: str, extra: list[str] | None = None) -> str:
    """One line per problem, each naming its field's path; `extra` adds `path: what` lines."""
    problems = []
    for err in e.errors():
        if not err["loc"] and err["type"] == "value_error":
            # A cross-field check: its message already names each path, one per line.
            problems += str(err.get("ctx", {}).get("error", err["msg"])).splitlines()
            continue
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        problems.append(f"{where}: {err['msg']} (got {err.get('input')!r})"[:300])
    problems += extra or []
    return "\n".join([f"{source}: {len(problems)} problem(s):", *(f"  - {p}" for p in problems)])


def load_settings(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the TOML file (default: $RECON_CONFIG or ./recon.toml), apply env, validate everything."""
    path = Path(path or os.environ.get("RECON_CONFIG", "recon.toml"))
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (set RECON_CONFIG or pass --config)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    data.update(overrides or {})
    try:
        settings = Settings(**data)
    except ValidationError as e:
        # The model validator has not run when a field is invalid: name the cross-field problems too.
        cross = [] if any(not err["loc"] for err in e.errors()) else _raw_cross_field_problems(data)
        raise ConfigError(format_validation_error(e, str(path), cross)) from None
    # CSV SKU maps are merged into the account's overrides here, so workflows get one plain model.
    for i, account in enumerate(settings.accounts):
        if account.sku_map_csv is not None:
            csv_path = (
                account.sku_map_csv
                if account.sku_map_csv.is_absolute()
                else path.parent / account.sku_map_csv
            )
            try:
                extra = SkuMap.read_csv(csv_path)
            except FileNotFoundError:
                raise ConfigError(f"{path}: accounts.{i}.sku_map_csv: {csv_path} not found") from None
            seen = {o.msku for o in account.sku_map.overrides}
            twice = sorted({o.msku for o in extra} & seen)
            if twice:
                raise ConfigError(
                    f"{path}: accounts.{i}: MSKU(s) {', '.join(twice)} mapped both in sku_map.overrides "
                    f"and in {csv_path}; keep one"
                )
            settings.accounts[i] = account.model_copy(
                update={"sku_map": SkuMap(overrides=[*account.sku_map.overrides, *extra])}
            )
    if settings.secrets_file is not None and not settings.secrets_file.is_absolute():
        settings.secrets_file = path.parent / settings.secrets_file
    return settings
