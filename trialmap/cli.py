"""Argument types shared by the command-line entry points (``trialmap``, ``python -m trialmap.refresh``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime

from trialmap.errors import DefinitionError


def date_arg(text: str) -> str:
    """argparse type: a YYYY-MM-DD date, not in the future."""
    try:
        d = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        msg = f"{text!r} is not a date in YYYY-MM-DD form, e.g. 2018-06-30"
        raise argparse.ArgumentTypeError(msg) from None
    if d > date.today():
        msg = f"{text} is in the future (today is {date.today().isoformat()})"
        raise argparse.ArgumentTypeError(msg)
    return d.isoformat()


def int_range(lo: int, hi: int | None = None):
    """argparse type: an integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            msg = f"{text!r} is not a whole number"
            raise argparse.ArgumentTypeError(msg) from None
        if n < lo or (hi is not None and n > hi):
            msg = f"{n} is out of range: give {lo}" + (f" to {hi}" if hi is not None else " or more")
            raise argparse.ArgumentTypeError(msg)
        return n

    return parse


def parse_switches(items: Sequence[str]) -> dict[str, bool]:
    """``["osteoarthritis=on"]`` -> ``{"osteoarthritis": True}``."""
    values = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if value.lower() not in values:
            msg = f"--switch {item!r}: write NAME=on or NAME=off"
            raise DefinitionError(msg)
        out[name.strip()] = values[value.lower()]
    return out
