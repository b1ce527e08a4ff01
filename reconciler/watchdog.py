"""The watchdog's decisions: which lasting situations deserve an alert, and under which key.

Alerts raised at the source (a claim due, a FATAL report, a quarantined row…) say what just happened.
Some trouble is the *absence* of something — no successful cycle, a pause nobody lifted, a difference
no correction fixes, a secret nearing its expiry — and only a periodic look finds it. The
WatchdogWorkflow (a Schedule, every `alerts.watchdog_minutes`) reads the facts in an activity and asks
the pure functions here, which return `Finding`s; the activity records them with
`raise_alert(..., once=True)`.

**Keys name the episode.** Each key carries what starts the situation: the last successful cycle
before an outage, the moment of a pause, the first reconciliation run of a streak, the rotation date.
So a situation that lasts is recorded once however often the watchdog looks, and the same situation
after a recovery is a new episode with a new key, recorded again. Reminders of a lasting episode are
not the watchdog's business (the alert stays in `starter.py alerts list`; Prometheus rules keep firing).

Time: the stale-sync window is a business duration (days, scaled by the clock like every business
window); a pause is measured in real hours (people's time); the LWA secret's 180 days are real days.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from reconciler.clock import Clock

# Amazon: "you must rotate your LWA client secret every 180 days" (SP-API developer policy).
LWA_SECRET_ROTATION_DAYS = 180


@dataclass(frozen=True)
class Finding:
    """An alert to record: `raise_alert(s, kind, key, message, account=account, once=True)`."""

    kind: str
    key: str
    message: str
    account: str | None = None


def span(d: timedelta) -> str:
    """A duration as people read it: minutes, hours or days."""
    seconds = d.total_seconds()
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86_400:.1f} days"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


# --- sync cycles -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleFact:
    """One recorded sync cycle (CycleRun): when it ended (real time), whether it succeeded, why not."""

    run_id: str
    finished_at: datetime
    ok: bool
    error: str = ""


def stale_sync(
    account: str,
    *,
    last_success_at: datetime | None,
    first_cycle_at: datetime | None,
    now: datetime,
    clock: Clock,
    window_days: float,
) -> Finding | None:
    """No successful cycle of the account for more than `window_days` business days.

    Measured from the end of the last successful cycle or, for an account that never had one, from its
    first recorded cycle; an account with no cycle at all is not judged here (nothing says when it
    should have started: Prometheus' ReconNeverSynced covers it). `now` and the cycle times are real
    times; the clock turns their distance into business time."""
    since = last_success_at or first_cycle_at
    if since is None:
        return None
    age = clock.business_at(now) - clock.business_at(since)
    window = clock.days(window_days)
    if age <= window:
        return None
    if last_success_at is not None:
        key = f"{account}:last-success:{last_success_at.isoformat()}"
        what = f"the last one ended {_stamp(last_success_at)}"
    else:
        key = f"{account}:never-since:{since.isoformat()}"
        what = f"none has ever succeeded; the first was recorded {_stamp(since)}"
    return Finding(
        kind="stale_sync",
        key=key,
        account=account,
        message=(
            f"account {account}: no successful sync cycle for {span(age)} of business time (limit "
            f"{span(window)}); {what}. Shopify drifts from FBA until cycles succeed again: see "
            f"`starter.py status` and the Temporal UI (ReconAccount={account})."
        ),
    )


def failing_cycles(
    account: str, *, latest: Sequence[CycleFact], last_success_run: str | None, n: int
) -> Finding | None:
    """The account's last `n` cycles (`latest`, newest first) all failed. The episode is the run of
    failures after the last successful cycle, so its key names that cycle."""
    recent = list(latest[:n])
    if len(recent) < n or any(c.ok for c in recent):
        return None
    last = recent[0]
    return Finding(
        kind="failing_cycles",
        key=f"{account}:after:{last_success_run or 'none'}",
        account=account,
        message=(
            f"account {account}: the last {n} sync cycles failed (the latest ended "
            f"{_stamp(last.finished_at)}): {last.error or 'no error recorded'}. See the cycles in the "
            f"Temporal UI (ReconAccount={account})."
        ),
    )


def cycle_error(summary: str) -> str:
    """What went wrong in a cycle, from CycleRun.summary (its stream outcomes as JSON objects joined by
    '; ', and an {"error": …} object when the workflow itself failed)."""
    problems: list[str] = []
    decoder = json.JSONDecoder()
    i = 0
    while i < len(summary):
        if summary[i] in "; ":
            i += 1
            continue
        try:
            obj, i = decoder.raw_decode(summary, i)
        except json.JSONDecodeError:
            break
        if not isinstance(obj, dict):
            continue
        if obj.get("error"):
            problems.append(str(obj["error"]))
        elif obj.get("status") == "fatal":
            problems.append(f"the {obj.get('stream', '?')} report failed (FATAL)")
    return "; ".join(problems)


# --- the gate ----------------------------------------------------------------------------------------


def paused_too_long(
    shop: str,
    *,
    paused: bool,
    paused_at: datetime | None,
    reason: str | None,
    now: datetime,
    limit_hours: float,
) -> Finding | None:
    """The shop's gate has been paused for more than `limit_hours` real hours; the pause is the episode."""
    if not paused or paused_at is None:
        return None
    age = now - paused_at
    if age <= timedelta(hours=limit_hours):
        return None
    return Finding(
        kind="paused_too_long",
        key=f"{shop}:paused-at:{paused_at.isoformat()}",
        message=(
            f"shop {shop}: writes to Shopify have been paused for {span(age)} (since "
            f"{_stamp(paused_at)}): {reason or 'no reason given'}. Effects queue while paused; "
            "`starter.py resume` when ready."
        ),
    )


# --- full reconciliations ----------------------------------------------------------------------------

DiffKey = tuple[str, str, str]  # (sku, location role, quantity name)


@dataclass(frozen=True)
class RunDiffs:
    """One finished full reconciliation (not a shadow preview) and its non-zero differences
    (Shopify − expected) by (sku, location, name)."""

    run_id: int
    diffs: Mapping[DiffKey, int]


def sustained_candidates(latest: Sequence[RunDiffs], n: int) -> set[DiffKey]:
    """The (sku, location, name) that differed in each of the `n` latest runs (newest first)."""
    if n < 1 or len(latest) < n:
        return set()
    keys = set(latest[0].diffs)
    for run in latest[1:n]:
        keys &= set(run.diffs)
    return keys


def sustained_discrepancies(account: str, runs: Sequence[RunDiffs], n: int) -> list[Finding]:
    """The same SKU and quantity differed in the `n` latest consecutive runs (`runs`: newest first, as
    far back as known). The episode starts at the streak's first run, so the key names that run: a
    streak that lasts is one alert, and a new streak after a clean run is another."""
    out = []
    for sku, location, name in sorted(sustained_candidates(runs, n)):
        streak = []
        for run in runs:
            d = run.diffs.get((sku, location, name))
            if not d:
                break
            streak.append((run.run_id, d))
        first = streak[-1][0]
        shown = ", ".join(f"{d:+d}" for _, d in streak[:n])
        out.append(
            Finding(
                kind="sustained_discrepancy",
                key=f"{account}:{sku}:{location}:{name}:from-run:{first}",
                account=account,
                message=(
                    f"account {account}: {sku} {location}.{name} differed from Amazon in the last "
                    f"{len(streak)} full reconciliations (runs {first}…{streak[0][0]}; latest differences "
                    f"{shown}, Shopify − expected). Its corrections have not settled it: decide the held "
                    "correction (`starter.py holds list`) or look for a cause the ledger does not show."
                ),
            )
        )
    return out


# --- credentials -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LwaSecret:
    """An LWA client secret as configured: the variable holding it, the accounts that use it, the day
    it was last rotated (None: not configured)."""

    secret_env: str
    accounts: tuple[str, ...]
    rotated_on: date | None


def lwa_secrets(accounts: Sequence[tuple[str, str, date | None]]) -> list[LwaSecret]:
    """Group accounts (name, lwa_client_secret_env, lwa_secret_rotated_on) by secret: accounts of one
    developer application share its secret, and one rotation covers them all. Accounts that name the
    same variable with different dates are judged apart (each date is a claim about the secret)."""
    groups: dict[tuple[str, date | None], list[str]] = {}
    for name, env, rotated_on in accounts:
        groups.setdefault((env, rotated_on), []).append(name)
    return [LwaSecret(env, tuple(names), rotated_on) for (env, rotated_on), names in groups.items()]


def credential_rotation(secret: LwaSecret, *, today: date, warn_days: int) -> Finding | None:
    """Due within `warn_days` (one alert), overdue (another), or not configured (said once)."""
    names = ", ".join(secret.accounts)
    who = f"account{'s' if len(secret.accounts) > 1 else ''} {names}"
    account = secret.accounts[0] if len(secret.accounts) == 1 else None
    if secret.rotated_on is None:
        return Finding(
            kind="credential_rotation",
            key=f"{secret.secret_env}:not-configured",
            account=account,
            message=(
                f"{who}: the rotation date of the LWA client secret ({secret.secret_env}) is not "
                f"configured, so nobody will be warned before Amazon's {LWA_SECRET_ROTATION_DAYS}-day "
                "rotation falls due; set `lwa_secret_rotated_on = YYYY-MM-DD` on the account."
            ),
        )
    due = secret.rotated_on + timedelta(days=LWA_SECRET_ROTATION_DAYS)
    left = (due - today).days
    if left > warn_days:
        return None
    rotate = (
        f"rotate it in Amazon's developer console, put the new secret in {secret.secret_env}, restart "
        "the worker and set `lwa_secret_rotated_on` to the day of the rotation"
    )
    if left <= 0:
        return Finding(
            kind="credential_rotation",
            key=f"{secret.secret_env}:{secret.rotated_on.isoformat()}:overdue",
            account=account,
            message=(
                f"{who}: the LWA client secret ({secret.secret_env}, rotated {secret.rotated_on}) was due "
                f"for rotation on {due} and is {-left} day(s) overdue; SP-API calls fail once Amazon "
                f"retires it: {rotate}."
            ),
        )
    return Finding(
        kind="credential_rotation",
        key=f"{secret.secret_env}:{secret.rotated_on.isoformat()}:due-soon",
        account=account,
        message=(
            f"{who}: the LWA client secret ({secret.secret_env}, rotated {secret.rotated_on}) must be "
            f"rotated by {due}, in {left} day(s): {rotate}."
        ),
    )
