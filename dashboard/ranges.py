"""The time range a dashboard shows, and its chart buckets (hours or days in a time zone)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.utils import timezone

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
CUSTOM_MAX = timedelta(days=366)


class RangeError(ValueError):
    """A custom range that cannot be shown; the message says why."""


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime
    tz: tzinfo
    name: str = "custom"  # "24h", "7d", "30d" or "custom"

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def unit(self) -> str:
        """Chart buckets: hours up to a day and a half, days beyond."""
        return "hour" if self.end - self.start <= timedelta(hours=36) else "day"

    def buckets(self) -> list[tuple[datetime, datetime]]:
        """Consecutive [start, end) pieces covering the range, cut at whole
        hours or at midnights of the range's time zone (a day is 23 or 25
        hours when the clocks change)."""
        edges = [self.start]
        local = timezone.localtime(self.start, self.tz)
        if self.unit == "hour":
            cut = local.replace(minute=0, second=0, microsecond=0)
            step = timedelta(hours=1)
            while True:
                cut = cut + step
                if cut >= self.end:
                    break
                edges.append(cut)
        else:
            day = local.date()
            while True:
                day = day + timedelta(days=1)
                cut = datetime.combine(day, time(), tzinfo=self.tz)
                if cut >= self.end:
                    break
                edges.append(cut)
        edges.append(self.end)
        return list(zip(edges[:-1], edges[1:], strict=True))

    def label(self, moment: datetime) -> str:
        local = timezone.localtime(moment, self.tz)
        return local.strftime("%H:%M" if self.unit == "hour" else "%b %d")


def preset(name: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> Range:
    now = now or timezone.now()
    return Range(start=now - PRESETS[name], end=now, tz=tz or timezone.get_current_timezone(), name=name)


def custom(start: date, end: date, *, tz: tzinfo | None = None, now: datetime | None = None) -> Range:
    """Whole days from ``start`` to ``end`` (both included) in ``tz``; a
    range reaching into the future ends now."""
    tz = tz or timezone.get_current_timezone()
    if end < start:
        raise RangeError("The range ends before it starts.")
    begin = datetime.combine(start, time(), tzinfo=tz)
    finish = datetime.combine(end + timedelta(days=1), time(), tzinfo=tz)
    if finish - begin > CUSTOM_MAX:
        raise RangeError("A range can cover at most a year.")
    finish = min(finish, now or timezone.now())
    if finish <= begin:
        raise RangeError("The range starts in the future.")
    return Range(start=begin, end=finish, tz=tz)


def from_request(params, *, tz: tzinfo | None = None) -> Range:
    """The range a dashboard URL asks for (?range=7d, or ?range=custom&from=…&to=…); 24 h by default."""
    name = params.get("range") or "24h"
    if name == "custom":
        try:
            start = date.fromisoformat(params.get("from", ""))
            end = date.fromisoformat(params.get("to", ""))
        except ValueError:
            raise RangeError("Give the custom range's first and last day as YYYY-MM-DD.") from None
        return custom(start, end, tz=tz)
    if name not in PRESETS:
        raise RangeError(f"Unknown range {name[:20]!r}: pick 24h, 7d, 30d or custom.")
    return preset(name, tz=tz)
