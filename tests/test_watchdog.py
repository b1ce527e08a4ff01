"""reconciler/watchdog.py without a server: each kind fires past its threshold and not before, keeps
one key for as long as its episode lasts, and gets a new key after a recovery. Also the config
fields the watchdog reads and a title for every new alert kind."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ops.alert_delivery import TITLES
from reconciler.clock import Clock
from reconciler.config import ConfigError, load_settings
from reconciler.watchdog import (
    CycleFact,
    Finding,
    LwaSecret,
    RunDiffs,
    credential_rotation,
    cycle_error,
    failing_cycles,
    lwa_secrets,
    paused_too_long,
    stale_sync,
    sustained_discrepancies,
)

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REAL = Clock(sim_epoch=T0, real_epoch=T0)  # production: one business day is one real day
FAST = Clock(sim_epoch=T0, real_epoch=T0, day_length=4.0)  # a scenario: one business day in 4 s


# --- stale_sync ----------------------------------------------------------------------------------------


def stale(
    last: datetime | None, now: datetime, *, clock: Clock = REAL, first: datetime | None = None
) -> Finding | None:
    return stale_sync(
        "us", last_success_at=last, first_cycle_at=first, now=now, clock=clock, window_days=0.25
    )


def test_stale_sync_fires_after_the_window_measured_on_the_clock() -> None:
    assert stale(T0, T0 + timedelta(hours=5)) is None
    found = stale(T0, T0 + timedelta(hours=7))
    assert found is not None and found.kind == "stale_sync" and found.account == "us"
    assert "account us" in found.message and "7.0 hours" in found.message
    # With 4-second days, 0.25 days is one real second.
    assert stale(T0, T0 + timedelta(seconds=0.9), clock=FAST) is None
    assert stale(T0, T0 + timedelta(seconds=1.1), clock=FAST) is not None


def test_stale_sync_key_lasts_with_the_episode_and_changes_after_a_recovery() -> None:
    def key(last: datetime, now: datetime) -> str:
        f = stale(last, now)
        assert f is not None
        return f.key

    first = key(T0, T0 + timedelta(hours=7))
    assert key(T0, T0 + timedelta(hours=30)) == first, "one episode, one key, however long it lasts"
    recovered = T0 + timedelta(hours=31)
    assert stale(recovered, recovered + timedelta(minutes=5)) is None
    assert key(recovered, recovered + timedelta(hours=8)) != first, "a new outage is a new episode"


def test_stale_sync_of_an_account_that_never_succeeded_counts_from_its_first_cycle() -> None:
    assert stale(None, T0) is None, "no cycle at all: nothing says when one was due"
    found = stale(None, T0 + timedelta(days=1), first=T0)
    assert found is not None and "never" in found.key and "none has ever succeeded" in found.message


# --- failing_cycles --------------------------------------------------------------------------------------


def cycles(*oks: bool, error: str = "the ledger report failed (FATAL)") -> list[CycleFact]:
    """Newest first."""
    return [
        CycleFact(
            run_id=f"r{i}", finished_at=T0 - timedelta(minutes=15 * i), ok=ok, error="" if ok else error
        )
        for i, ok in enumerate(oks)
    ]


def test_failing_cycles_fires_when_the_last_n_failed_with_the_last_error() -> None:
    assert failing_cycles("us", latest=cycles(False, False, True), last_success_run="r2", n=3) is None
    assert failing_cycles("us", latest=cycles(False, False), last_success_run=None, n=3) is None, (
        "fewer than n"
    )
    found = failing_cycles("us", latest=cycles(False, False, False), last_success_run="r9", n=3)
    assert found is not None and found.kind == "failing_cycles"
    assert "last 3 sync cycles failed" in found.message and "ledger report failed (FATAL)" in found.message
    assert found.key == "us:after:r9"


def test_failing_cycles_key_is_the_success_before_the_streak() -> None:
    one = failing_cycles("us", latest=cycles(False, False, False), last_success_run="r9", n=3)
    longer = failing_cycles("us", latest=cycles(False, False, False), last_success_run="r9", n=3)
    after_recovery = failing_cycles("us", latest=cycles(False, False, False), last_success_run="r20", n=3)
    assert one and longer and after_recovery
    assert one.key == longer.key != after_recovery.key


def test_cycle_error_reads_fatal_streams_and_the_workflow_error_from_the_summary() -> None:
    summary = "; ".join(
        [
            '{"stream":"orders","skipped":null,"status":"ok","rows_read":1}',
            '{"stream":"ledger","skipped":null,"status":"fatal","rows_read":0}',
            '{"error": "ingest_report failed: bad header; line 3"}',
        ]
    )
    assert (
        cycle_error(summary) == "the ledger report failed (FATAL); ingest_report failed: bad header; line 3"
    )
    assert cycle_error("") == "" and cycle_error("not json") == ""


# --- paused_too_long -------------------------------------------------------------------------------------


def test_paused_too_long_fires_after_the_real_hours_with_who_and_why() -> None:
    reason = "stocktake (by alice)"
    kw = {"paused": True, "paused_at": T0, "reason": reason, "limit_hours": 24}
    assert paused_too_long("main", now=T0 + timedelta(hours=23), **kw) is None  # type: ignore[arg-type]
    found = paused_too_long("main", now=T0 + timedelta(hours=25), **kw)  # type: ignore[arg-type]
    assert found is not None and found.kind == "paused_too_long" and found.account is None
    assert "shop main" in found.message and "stocktake (by alice)" in found.message
    assert paused_too_long("main", paused=False, paused_at=None, reason=None, now=T0, limit_hours=1) is None


def test_paused_too_long_key_is_the_pause() -> None:
    def key(paused_at: datetime, now: datetime) -> str:
        f = paused_too_long("main", paused=True, paused_at=paused_at, reason="x", now=now, limit_hours=1)
        assert f is not None
        return f.key

    assert key(T0, T0 + timedelta(hours=2)) == key(T0, T0 + timedelta(hours=50))
    assert key(T0 + timedelta(days=3), T0 + timedelta(days=3, hours=2)) != key(T0, T0 + timedelta(hours=2))


# --- sustained_discrepancy -------------------------------------------------------------------------------


def runs(*diffs: dict[str, int], first_id: int = 1) -> list[RunDiffs]:
    """Oldest first in the arguments; returned newest first, as the activity reads them."""
    out = [
        RunDiffs(run_id=first_id + i, diffs={(sku, "fba", "available"): d for sku, d in run.items()})
        for i, run in enumerate(diffs)
    ]
    return out[::-1]


def test_sustained_discrepancy_fires_for_a_sku_that_differed_in_the_last_n_runs() -> None:
    history = runs({"MUG": -2, "CUP": 1}, {"MUG": -2}, {"MUG": -3, "CUP": 4})
    [found] = sustained_discrepancies("us", history, 3)
    assert found.kind == "sustained_discrepancy" and found.account == "us"
    assert found.key == "us:MUG:fba:available:from-run:1"
    assert "MUG fba.available" in found.message and "-3, -2, -2" in found.message
    assert sustained_discrepancies("us", history, 4) == [], "only 3 runs known"
    assert sustained_discrepancies("us", runs({"MUG": -2}, {}, {"MUG": -2}), 2) == [], "a clean run between"


def test_sustained_discrepancy_key_names_the_streak_start() -> None:
    three = sustained_discrepancies("us", runs({"MUG": 1}, {"MUG": 1}, {"MUG": 1}), 3)
    four = sustained_discrepancies("us", runs({"MUG": 1}, {"MUG": 1}, {"MUG": 1}, {"MUG": 2}), 3)
    assert [f.key for f in three] == [f.key for f in four], "a streak that lasts keeps its key"
    # A clean run, then a new streak: a new episode.
    streaks = runs({"MUG": 1}, {"MUG": 1}, {"MUG": 1}, {}, {"MUG": 1}, {"MUG": 1}, {"MUG": 1})
    again = sustained_discrepancies("us", streaks, 3)
    assert [f.key for f in again] == ["us:MUG:fba:available:from-run:5"] != [f.key for f in three]


# --- credential_rotation ---------------------------------------------------------------------------------


def secret(rotated_on: date | None, *accounts: str) -> LwaSecret:
    return LwaSecret("SP_API_LWA_CLIENT_SECRET", accounts or ("us",), rotated_on)


def test_credential_rotation_warns_before_the_due_date_then_again_once_overdue() -> None:
    rotated = date(2026, 1, 1)
    due = rotated + timedelta(days=180)
    assert credential_rotation(secret(rotated), today=due - timedelta(days=15), warn_days=14) is None
    soon = credential_rotation(secret(rotated), today=due - timedelta(days=14), warn_days=14)
    later = credential_rotation(secret(rotated), today=due - timedelta(days=1), warn_days=14)
    overdue = credential_rotation(secret(rotated), today=due, warn_days=14)
    still = credential_rotation(secret(rotated), today=due + timedelta(days=30), warn_days=14)
    assert soon and later and overdue and still
    assert soon.kind == overdue.kind == "credential_rotation"
    assert soon.key == later.key != overdue.key == still.key
    assert "in 14 day(s)" in soon.message and str(due) in soon.message
    assert "30 day(s) overdue" in still.message and "SP_API_LWA_CLIENT_SECRET" in still.message
    # Rotated: nothing to say until the next due date nears, and then under new keys.
    fresh = due + timedelta(days=31)
    assert credential_rotation(secret(fresh), today=fresh, warn_days=14) is None
    next_soon = credential_rotation(secret(fresh), today=fresh + timedelta(days=170), warn_days=14)
    assert next_soon and next_soon.key not in {soon.key, overdue.key}


def test_credential_rotation_not_configured_is_said_once_per_secret() -> None:
    a = credential_rotation(secret(None), today=date(2026, 1, 1), warn_days=14)
    b = credential_rotation(secret(None), today=date(2027, 6, 1), warn_days=14)
    assert a and b and a.key == b.key and "not configured" in a.message
    assert "lwa_secret_rotated_on" in a.message


def test_accounts_sharing_one_lwa_secret_get_one_alert_naming_them_all() -> None:
    grouped = lwa_secrets([("us", "SECRET", None), ("ca", "SECRET", None), ("eu", "OTHER", date(2026, 1, 1))])
    assert [(g.secret_env, g.accounts) for g in grouped] == [("SECRET", ("us", "ca")), ("OTHER", ("eu",))]
    found = credential_rotation(grouped[0], today=date(2026, 1, 1), warn_days=14)
    assert found and "accounts us, ca" in found.message and found.account is None


# --- configuration and titles ----------------------------------------------------------------------------

CONFIG = """
[alerts]
{alerts}

[[shops]]
name = "main"
domain = "example.myshopify.com"
access_token_env = "T_SHOP_TOKEN"

[[accounts]]
name = "us"
shop = "main"
fba_location = "Amazon FBA US"
{account}
"""


def test_watchdog_settings_default_and_load(tmp_path: Path) -> None:
    path = tmp_path / "recon.toml"
    path.write_text(CONFIG.format(alerts="", account=""))
    alerts = load_settings(path).alerts
    assert (alerts.watchdog_minutes, alerts.stale_sync_days, alerts.failing_cycles) == (15, 0.25, 3)
    assert (alerts.paused_too_long_hours, alerts.sustained_runs, alerts.rotation_warn_days) == (24, 3, 14)
    path.write_text(CONFIG.format(alerts="stale_sync_days = 1", account="lwa_secret_rotated_on = 2026-01-02"))
    settings = load_settings(path)
    assert settings.alerts.stale_sync_days == 1
    assert settings.account("us").lwa_secret_rotated_on == date(2026, 1, 2)


@pytest.mark.parametrize(
    ("alerts", "account", "field"),
    [
        ("watchdog_minutes = 0", "", "alerts.watchdog_minutes"),
        ("stale_sync_days = -1", "", "alerts.stale_sync_days"),
        ("failing_cycles = 0", "", "alerts.failing_cycles"),
        ("paused_too_long_hours = 0", "", "alerts.paused_too_long_hours"),
        ("sustained_runs = 1", "", "alerts.sustained_runs"),
        ("rotation_warn_days = 200", "", "alerts.rotation_warn_days"),
        ("", 'lwa_secret_rotated_on = "soon"', "accounts.0.lwa_secret_rotated_on"),
        ("", "lwa_secret_rotated_on = 2999-01-01", "accounts.0.lwa_secret_rotated_on"),
    ],
)
def test_a_bad_watchdog_setting_is_refused_naming_the_field(
    tmp_path: Path, alerts: str, account: str, field: str
) -> None:
    path = tmp_path / "recon.toml"
    path.write_text(CONFIG.format(alerts=alerts, account=account))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"  - {field}: " in str(caught.value), str(caught.value)


def test_every_new_alert_kind_has_a_title() -> None:
    kinds = {
        "stale_sync",
        "failing_cycles",
        "paused_too_long",
        "sustained_discrepancy",
        "credential_rotation",
        "quarantined_input",
        "negative_quantity",
    }
    assert kinds <= set(TITLES)
