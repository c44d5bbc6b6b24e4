#!/usr/bin/env python3
"""Logs `connect` and `disconnect` notifications (like upstream's
helloworld.py does for test_plugin_connect_notifications), at the level
CONNECT_NOTES_LEVEL names (default info)."""
import os

import mini

LEVEL = os.environ.get("CONNECT_NOTES_LEVEL", "info")


def notified(method, params):
    if method in ("connect", "disconnect"):
        mini.log(f"Received {method} event", LEVEL)


mini.run({"subscriptions": ["connect", "disconnect"], "dynamic": True}, {}, on_notify=notified)
