#!/usr/bin/env python3
"""Keeps every `forward_event` notification, in the order received, and
returns them on `listforwards_plugin` (what upstream's
forward_payment_status.py does for test_forward_event_notification)."""
import mini

received = []


def notified(method, params):
    if method == "forward_event":
        received.append(params["forward_event"])


mini.run(
    {"subscriptions": ["forward_event"],
     "rpcmethods": [{"name": "listforwards_plugin", "usage": "",
                     "description": "the forward_event notifications so far"}]},
    {"listforwards_plugin": lambda params, reply: {"forwards": received}},
    on_notify=notified,
)
