"""The schedule section: a 5-field UTC cron, every field range-checked when the file loads, and
whether the sweep also starts when its data files change (`on_new_data`, off unless set)."""

from __future__ import annotations

import re

from econ_obs.config.model import DEFAULT_SCHEDULE_CRON
from econ_obs.config.yaml_reader import Section

_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")


SCHEDULE_KEYS = ("cron", "on_new_data")


def parse_on_new_data(top: Section) -> bool:
    schedule = top.section("schedule", SCHEDULE_KEYS, required=False)
    return schedule.flag("on_new_data", "on_new_data: true", False)


def parse_cron(top: Section) -> str:
    schedule = top.section("schedule", SCHEDULE_KEYS, required=False)
    cron = schedule.text("cron", repr(DEFAULT_SCHEDULE_CRON), DEFAULT_SCHEDULE_CRON)
    fields = cron.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(field) for field in fields):
        schedule.fail(
            "cron",
            f"{cron!r} is not a 5-field cron (minute hour day month weekday);"
            f" write e.g. {DEFAULT_SCHEDULE_CRON!r}",
        )
    # (field, lowest, highest, names for low, low+1, ...); weekday 7 is Sunday again.
    field_ranges = (
        ("minute", 0, 59, ""),
        ("hour", 0, 23, ""),
        ("day", 1, 31, ""),
        ("month", 1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
        ("weekday", 0, 7, "sun mon tue wed thu fri sat"),
    )

    def part_ok(part: str, low: int, high: int, names: list[str]) -> bool:
        """Whether one comma-separated part is *, ?, a value, a-b, or either with /step."""
        span, has_step, step = part.partition("/")
        if has_step and not (step.isdigit() and 1 <= int(step) <= high):
            return False
        if span in ("*", "?"):
            return True
        ends = [str(low + names.index(end)) if end in names else end for end in span.split("-")]
        if len(ends) > 2 or not all(end.isdigit() and low <= int(end) <= high for end in ends):
            return False
        return int(ends[0]) <= int(ends[-1])

    for (field_name, low, high, names), field in zip(field_ranges, fields, strict=True):
        if not all(part_ok(part, low, high, names.split()) for part in field.lower().split(",")):
            schedule.fail(
                "cron",
                f"{cron!r}: the {field_name} field {field!r} is not *, a number {low}-{high},"
                f" a range a-b, a step */n or a list of those; write e.g."
                f" {DEFAULT_SCHEDULE_CRON!r}",
            )
    return cron
