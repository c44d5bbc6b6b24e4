#!/usr/bin/env python3
"""Resolves every HTLC it is offered with a fixed preimage, paying or
forwarding nothing.

Ported from CLN's tests/plugins/shortcircuit.py (pyln-client) to mini.py."""
import mini


def htlc_accepted(params, reply):
    return {"result": "resolve", "payment_key": "00" * 32}


mini.run({"hooks": [{"name": "htlc_accepted"}]}, {"htlc_accepted": htlc_accepted})
