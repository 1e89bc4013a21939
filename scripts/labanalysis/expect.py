"""Expectations: smtpprobe's --expect grammar, one per line,

    PATH OP VALUE[UNIT]        banner.p99 <= 50ms, outcome.ok == 300

PATH names a figure, OP is one of <= < >= > == != (= is ==). A VALUE with
a unit (us ms s m h) is a duration and only compares with a duration
figure; a bare number against a duration figure is microseconds, as in
the JSON. The lab adds words: 'cause == rdns' compares text, with == and
!= only. Lines that are empty or start with # are skipped."""
import re

from .units import UNITS_US, fmt_duration

_LINE = re.compile(r"^\s*([a-z0-9_.\-]+)\s*(<=|>=|==|!=|<|>|=)\s*(\S+)\s*$")
_NUM = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(us|ms|s|m|h)?$")


class ExpectError(ValueError):
    pass


def parse(text):
    """'banner.p99 <= 50ms' -> (path, op, value, is_duration)."""
    m = _LINE.match(text)
    if not m:
        raise ExpectError("cannot read %r: want PATH OP VALUE, e.g. banner.p99<=200ms" % text)
    path, op, raw = m.groups()
    op = "==" if op == "=" else op
    n = _NUM.match(raw)
    if n:
        unit = n.group(1)
        number = float(raw[:len(raw) - len(unit)] if unit else raw)
        return path, op, number * UNITS_US[unit] if unit else number, unit is not None
    if op not in ("==", "!="):
        raise ExpectError("%r: a word compares only with == or !=" % text)
    return path, op, raw, False


def _holds(have, op, want):
    return {"==": have == want, "!=": have != want, "<=": have <= want,
            ">=": have >= want, "<": have < want, ">": have > want}[op]


def check(text, figures):
    """-> (ok, message). figures is a Figures (values and which are
    durations). An unknown figure fails, with the reason."""
    try:
        path, op, want, has_unit = parse(text)
    except ExpectError as e:
        return False, "FAIL %s (%s)" % (text.strip(), e)
    shown_want = fmt_duration(want) if has_unit else _show(want)
    label = "%s %s %s" % (path, op, shown_want)
    if path not in figures.values:
        return False, "FAIL %s (actual none: no such figure)" % label
    have = figures.values[path]
    is_dur = path in figures.durations
    if has_unit and not is_dur:
        return False, "FAIL %s (%s is not a duration)" % (label, path)
    shown = fmt_duration(have) if is_dur and isinstance(have, (int, float)) else _show(have)
    if isinstance(want, str) or isinstance(have, str):
        ok = op in ("==", "!=") and _holds(str(have), op, str(want))
    else:
        ok = _holds(float(have), op, float(want))
    return ok, "%s %s (actual %s)" % ("PASS" if ok else "FAIL", label, shown)


def check_all(lines, figures):
    """-> (all held, ['PASS ...', 'FAIL ...'])."""
    out = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        out.append(check(s, figures)[1])
    return all(m.startswith("PASS") for m in out), out


def _show(v):
    if isinstance(v, float) and v.is_integer():
        return "%d" % v
    return "%g" % v if isinstance(v, float) else str(v)
