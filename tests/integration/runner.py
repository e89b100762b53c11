#!/usr/bin/env python3
"""Run Bulwark's black-box integration tests (stdlib only).

    python3 tests/integration/runner.py [-v] [-k PATTERN]... [-l]

BULWARK_BUILD names the folder holding bulwarkd, bulwarkctl and sendmail
(default: obj in the checkout).  BULWARK_IT_TIMEOUT bounds the whole run
in seconds (default 2400).  BULWARK_KEEP_TMP=1 keeps the temporary
folders.  A failing test prints the end of its daemon's log.
"""

import argparse
import faulthandler
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


class Result(unittest.TextTestResult):
    """Prints the daemon log of a test the first time it fails."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._shown = set()
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        t = time.monotonic() - self._started.get(test.id(), time.monotonic())
        if self.showAll:
            self.stream.writeln("    (%.1fs)" % t)
        super().stopTest(test)

    def _show_logs(self, test):
        case = getattr(test, "test_case", test)
        if case.id() in self._shown:
            return
        self._shown.add(case.id())
        for d in getattr(case, "daemons", []):
            self.stream.writeln("---- %s: log of bulwarkd in %s (tail) ----"
                                % (case.id(), d.tmp))
            self.stream.writeln(d.log_tail(60))
            self.stream.writeln("---- end of log ----")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._show_logs(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._show_logs(test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._show_logs(test)


def watchdog(seconds):
    """Stop every daemon and exit if the whole run takes too long."""
    def fire():
        sys.stderr.write("runner: time limit of %ds reached; stopping\n"
                         % seconds)
        faulthandler.dump_traceback(all_threads=True)
        harness.stop_everything()
        os._exit(2)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-k", action="append", default=[],
                    help="run only tests whose name contains PATTERN")
    ap.add_argument("-l", action="store_true", help="list the tests")
    ap.add_argument("-q", action="store_true", help="less output")
    args = ap.parse_args()

    loader = unittest.TestLoader()
    if args.k:
        loader.testNamePatterns = ["*%s*" % k for k in args.k]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    if args.l:
        def walk(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from walk(t)
                else:
                    yield t
        for t in walk(suite):
            print(t.id())
        return 0

    for prog in (harness.BULWARKD, harness.BULWARKCTL, harness.SENDMAIL):
        if not os.access(prog, os.X_OK):
            print("runner: %s is missing: build first (make, or make O=%s "
                  "build)" % (prog, os.path.basename(harness.BUILD)),
                  file=sys.stderr)
            return 1
    print("runner: build %s, %s, %s" % (
        harness.BUILD, "root" if harness.IS_ROOT else "not root",
        "test hooks" if harness.TEST_HOOKS else "no test hooks"))
    corpus = harness.shared_corpus("messages")
    print("runner: shared corpus %s" % (
        corpus if corpus and os.path.isdir(corpus)
        else "not found (tests skip it)"))
    watchdog(int(os.environ.get("BULWARK_IT_TIMEOUT", "2400")))
    runner = unittest.TextTestRunner(resultclass=Result,
                                     verbosity=1 if args.q else 2,
                                     stream=sys.stdout)
    res = runner.run(suite)
    harness.stop_everything()
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
