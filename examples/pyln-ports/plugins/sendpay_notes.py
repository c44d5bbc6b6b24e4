#!/usr/bin/env python3
"""Keeps every `sendpay_success` and `sendpay_failure` notification, as
received; `listsendpays_plugin` returns them (upstream:
sendpay_notifications.py)."""
import threading

import mini

seen = {"sendpay_success": [], "sendpay_failure": []}
lock = threading.Lock()


def notified(method, params):
    if method in seen:
        with lock:
            seen[method].append(mini.payload(params, method))


def listsendpays_plugin(params, reply):
    with lock:
        return {k: list(v) for k, v in seen.items()}


mini.run(
    {"subscriptions": ["sendpay_success", "sendpay_failure"],
     "rpcmethods": [{"name": "listsendpays_plugin", "usage": "",
                     "description": "the sendpay notifications received"}]},
    {"listsendpays_plugin": listsendpays_plugin},
    on_notify=notified,
)
