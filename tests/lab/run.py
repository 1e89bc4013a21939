#!/usr/bin/env python3
"""Runs the lab analysis's unit tests (tests/lab/test_*.py, plain
unittest, no process started) and prints one summary line:
"lab units: N passed, N failed, N skipped"."""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    sys.path.insert(0, HERE)
    suite = unittest.TestLoader().discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=1, stream=sys.stdout).run(suite)
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    print("lab units: %d passed, %d failed, %d skipped (%.1f s)"
          % (result.testsRun - bad - skipped, bad, skipped, time.monotonic() - start))
    return 0 if bad == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
