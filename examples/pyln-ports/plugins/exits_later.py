#!/usr/bin/env python3
"""Exits by itself shortly after init (upstream: fail_by_itself.py), or when
its method `die` is called (upstream: suicidal_plugin.py)."""
import os
import threading
import time

import mini


def leave_soon(_params):
    # A sleeping thread rather than threading.Timer: lightningd releases
    # before v23.11 run under libfaketime in the harness, whose timed
    # condition waits do not always wake up.
    def leave():
        time.sleep(float(os.environ.get("EXITS_LATER_SECS", "1")))
        os._exit(1)

    threading.Thread(target=leave, daemon=True).start()


def die(params, reply):
    os._exit(1)


on_init = leave_soon if os.environ.get("EXITS_LATER_SECS") else None
mini.run({"rpcmethods": [{"name": "die", "usage": "", "description": "exits"}]},
         {"die": die}, on_init=on_init)
