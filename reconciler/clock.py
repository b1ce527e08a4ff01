"""Business time vs real time.

Every business duration (windows, delays) is configured in days. In production one business day is
86,400 real seconds; in scenario runs it is a few seconds. A `Clock` maps between the two so that
workflows can turn "refund date + 45 days" into a real timer, and so the simulators and the
reconciler agree on what "now" is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

SECONDS_PER_DAY = 86_400.0


class Clock(BaseModel):
    """`business = sim_epoch + (real - real_epoch) * scale`, scale = 86,400 / day_length."""

    sim_epoch: datetime = Field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    real_epoch: datetime = Field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    day_length: float = Field(default=SECONDS_PER_DAY, gt=0, description="real seconds per business day")

    @property
    def scale(self) -> float:
        return SECONDS_PER_DAY / self.day_length

    @property
    def is_real_time(self) -> bool:
        return self.day_length == SECONDS_PER_DAY and self.sim_epoch == self.real_epoch

    def business_at(self, real: datetime) -> datetime:
        return self.sim_epoch + (real - self.real_epoch) * self.scale

    def real_at(self, business: datetime) -> datetime:
        return self.real_epoch + (business - self.sim_epoch) / self.scale

    def now(self, real_now: datetime | None = None) -> datetime:
        """Business now. Workflows pass `workflow.now()`; other code passes nothing."""
        return self.business_at(real_now or datetime.now(UTC))

    def real_duration(self, business: timedelta) -> timedelta:
        return business / self.scale

    def days(self, n: float) -> timedelta:
        """A business duration of `n` days."""
        return timedelta(days=n)

    def business_day(self, real_now: datetime | None = None) -> float:
        """Fractional business days since `sim_epoch` (the scenario's `day`)."""
        return (self.now(real_now) - self.sim_epoch).total_seconds() / SECONDS_PER_DAY


def as_utc(t: datetime) -> datetime:
    """Datetimes read back from SQLite lose their zone; they were written in UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t
