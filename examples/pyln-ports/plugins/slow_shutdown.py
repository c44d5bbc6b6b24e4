#!/usr/bin/env python3
"""Subscribes to `shutdown` and takes SLOW_SHUTDOWN_SECS (default 20)
seconds to exit cleanly after it, logging before and after."""
import os
import time

import mini


def notified(method, params):
    if method == "shutdown":
        secs = float(os.environ.get("SLOW_SHUTDOWN_SECS", "20"))
        mini.log(f"shutdown called, exiting in {secs:g}s")
        time.sleep(secs)
        mini.log("shutdown done")
        os._exit(0)


mini.run({"subscriptions": ["shutdown"], "dynamic": True}, {}, on_notify=notified)
