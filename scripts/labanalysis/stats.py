"""Pure statistics over lists of numbers."""
import math


def percentile(values, pct):
    """Nearest-rank percentile (as smtpprobe's histogram reports it); None
    for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, int(math.ceil(pct / 100.0 * len(v))))
    return v[min(k, len(v)) - 1]


def mean(values):
    return sum(values) / len(values) if values else 0.0


def thirds(values):
    """Mean of the first third and of the last third (at least one each)."""
    if not values:
        return 0.0, 0.0
    k = max(1, len(values) // 3)
    return mean(values[:k]), mean(values[-k:])


def slope(xs, ys):
    """Least-squares slope of ys against xs; 0 when xs do not vary."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = mean(xs), mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
