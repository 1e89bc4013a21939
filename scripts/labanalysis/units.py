"""Durations, as every program of the suite writes them: a number and a
unit (us, ms, s, m, h); figures are kept in integer microseconds."""
import re

UNITS_US = {"us": 1, "ms": 1000, "s": 1000000, "m": 60000000, "h": 3600000000}
_DURATION = re.compile(r"^(-?[0-9]+(?:\.[0-9]*)?|-?\.[0-9]+)(us|ms|s|m|h)?$")


class DurationError(ValueError):
    pass


def parse_duration(text, bare_unit=None):
    """'250ms' -> 250000. A bare number takes bare_unit ('us', 's'...);
    without one it is an error, except 0. '-' and '' are None (a stage
    that did not run)."""
    text = text.strip()
    if text in ("", "-"):
        return None
    m = _DURATION.match(text)
    if not m:
        raise DurationError("not a duration: %r (a number and us, ms, s, m or h)" % text)
    number, unit = m.group(1), m.group(2) or bare_unit
    if unit is None:
        if float(number) == 0:
            return 0
        raise DurationError("%r needs a unit (us, ms, s, m, h)" % text)
    return int(round(float(number) * UNITS_US[unit]))


def fmt_duration(us):
    """1234567 -> '1.23s', 45600 -> '45.6ms', 789 -> '789us'; None -> '-'."""
    if us is None:
        return "-"
    us = float(us)
    sign = "-" if us < 0 else ""
    us = abs(us)
    if us >= 1e6:
        return "%s%.2fs" % (sign, us / 1e6)
    if us >= 1e3:
        return "%s%.1fms" % (sign, us / 1e3)
    return "%s%dus" % (sign, round(us))


def fmt_share(fraction):
    """0.875 -> '88%', 0.0004 -> '0.04%': small shares keep a digit."""
    pct = 100.0 * fraction
    if pct == 0 or pct >= 10:
        return "%.0f%%" % pct
    if pct >= 1:
        return "%.1f%%" % pct
    return "%.2f%%" % pct
