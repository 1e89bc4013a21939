#!/usr/bin/env python3
"""Runs every tests/e2e/test_*.py with unittest and prints one summary line:
"e2e: N passed, N failed, N skipped". An optional argument keeps only the
files whose name contains it."""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in sorted(os.listdir(HERE)):
        if name.startswith("test_") and name.endswith(".py") and pattern in name:
            suite.addTests(loader.loadTestsFromName(name[:-3]))
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    good = result.testsRun - bad - skipped
    print("e2e: %d passed, %d failed, %d skipped (%.1f s)"
          % (good, bad, skipped, time.monotonic() - start))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
