#!/usr/bin/env python3
"""Logs `channel_opened` notifications: who opened, for how much, with
which funding transaction (upstream: misc_notifications.py)."""
import mini


def notified(method, params):
    if method == "channel_opened":
        opened = mini.payload(params, "channel_opened")
        mini.log(f"channel opened to us by {opened['id']}, funding_msat {opened['funding_msat']}, "
                 f"funding txid {opened['funding_txid']}")


mini.run({"subscriptions": ["channel_opened"]}, {}, on_notify=notified)
