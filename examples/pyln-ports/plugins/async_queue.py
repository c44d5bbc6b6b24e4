#!/usr/bin/env python3
"""`asyncqueue` holds each call open; `asyncflush <n>` answers all of them
(and itself) with n."""
import threading

import mini

pending = []
lock = threading.Lock()


def queue(params, reply):
    with lock:
        pending.append(reply)
    mini.log("queued")
    return None


def flush(params, reply):
    value = params[0] if isinstance(params, list) else params["value"]
    with lock:
        waiting = list(pending)
        pending.clear()
    for answer in waiting:
        answer(value)
    return value


mini.run(
    {"rpcmethods": [
        {"name": "asyncqueue", "usage": "", "description": "waits for asyncflush"},
        {"name": "asyncflush", "usage": "value", "description": "answers every waiting asyncqueue"},
    ], "dynamic": True},
    {"asyncqueue": queue, "asyncflush": flush},
)
