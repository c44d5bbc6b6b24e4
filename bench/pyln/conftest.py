"""pyln-testing's fixtures, plus timestamps for the bench.

Times are wall-clock epoch seconds (time.time()) so the bench can relate
them to when it spawned pytest. Each test appends one JSON line to
$BENCH_PYLN_OUT: setup start (before any fixture), network ready (written by
the test), teardown start and end.
"""

import json
import os
import time

import pytest
from pyln.testing.fixtures import *  # noqa: F401,F403

STAMPS = {}


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # pyln-testing's `directory` fixture reads rep_call to decide cleanup.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    STAMPS.clear()
    STAMPS["setup_start"] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    STAMPS["teardown_start"] = time.time()
    yield
    STAMPS["teardown_end"] = time.time()
    STAMPS["test"] = item.nodeid
    STAMPS["passed"] = getattr(getattr(item, "rep_call", None), "outcome", None) == "passed"
    with open(os.environ["BENCH_PYLN_OUT"], "a") as f:
        f.write(json.dumps(STAMPS) + "\n")


@pytest.fixture
def stamps():
    return STAMPS
