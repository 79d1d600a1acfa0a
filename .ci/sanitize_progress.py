"""pytest plugin for .ci/sanitize (loaded with -p sanitize_progress, .ci on PYTHONPATH).

A sanitizer finding aborts the whole interpreter, so pytest never reports it. This plugin
appends "START <nodeid>" to $CONVCORE_SANITIZE_LOG before each test and "<PHASE>-<OUTCOME>
<nodeid>" after it (open/append/close each time, so the lines survive the abort). A test with a
START and no outcome is the one that aborted. When pytest runs again with the same log, the
plugin deselects every test the log already names (finished or aborted), and every
parametrization of a test function the log marks "SKIPFN <nodeid without [params]>", so the
run resumes after the aborted test instead of starting over.
"""

import os

_LOG = os.environ["CONVCORE_SANITIZE_LOG"]


def _write(line):
    with open(_LOG, "a") as f:
        f.write(line + "\n")


def _seen():
    seen, functions = set(), set()
    try:
        with open(_LOG) as f:
            for line in f:
                tag, _, nodeid = line.rstrip("\n").partition(" ")
                (functions if tag == "SKIPFN" else seen).add(nodeid)
    except FileNotFoundError:
        pass
    return seen, functions


def pytest_collection_modifyitems(config, items):
    seen, functions = _seen()
    if not seen and not functions:
        return
    keep, dropped = [], []
    for item in items:
        gone = item.nodeid in seen or item.nodeid.split("[", 1)[0] in functions
        (dropped if gone else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_runtest_logstart(nodeid, location):
    _write(f"START {nodeid}")


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _write(f"{report.when.upper()}-{report.outcome.upper()} {report.nodeid}")
