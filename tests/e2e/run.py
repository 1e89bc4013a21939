#!/usr/bin/env python3
"""Runs every tests/e2e/test_*.py with unittest and prints one summary line:
"e2e: N passed, N failed, N skipped". An optional argument keeps only the
files whose name contains it; E2E_SKIP="test_a test_b" leaves those files
out (CI's sanitizer pass skips the lab's long scenario runs)."""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout)
    start = time.monotonic()
    good = bad = skipped = 0
    took = []
    skip_files = set(os.environ.get("E2E_SKIP", "").split())
    # One file at a time, so the summary can say where the time goes.
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py") and pattern in name):
            continue
        if name[:-3] in skip_files:
            print("e2e: %s left out (E2E_SKIP)" % name[:-3])
            continue
        t0 = time.monotonic()
        result = runner.run(loader.loadTestsFromName(name[:-3]))
        took.append((time.monotonic() - t0, name[:-3]))
        n_bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        bad += n_bad
        skipped += len(result.skipped)
        good += result.testsRun - n_bad - len(result.skipped)
    print("e2e: seconds per file, slowest first:")
    for secs, name in sorted(took, reverse=True):
        print("  %7.1f  %s" % (secs, name))
    print("e2e: %d passed, %d failed, %d skipped (%.1f s)"
          % (good, bad, skipped, time.monotonic() - start))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
