#!/usr/bin/env python3
"""Keeps the height of every `block_added` notification; `blockscatched`
returns them in order (upstream: block_added.py)."""
import threading

import mini

heights = []
lock = threading.Lock()


def notified(method, params):
    if method == "block_added":
        with lock:
            heights.append(mini.payload(params, "block_added", "block")["height"])


def blockscatched(params, reply):
    with lock:
        return list(heights)


mini.run(
    {"subscriptions": ["block_added"],
     "rpcmethods": [{"name": "blockscatched", "usage": "",
                     "description": "heights of the blocks notified"}]},
    {"blockscatched": blockscatched},
    on_notify=notified,
)
