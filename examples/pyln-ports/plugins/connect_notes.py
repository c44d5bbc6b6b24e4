#!/usr/bin/env python3
"""Logs `connect` and `disconnect` notifications (like upstream's
helloworld.py does for test_plugin_connect_notifications)."""
import mini


def notified(method, params):
    if method in ("connect", "disconnect"):
        mini.log(f"Received {method} event")


mini.run({"subscriptions": ["connect", "disconnect"], "dynamic": True}, {}, on_notify=notified)
