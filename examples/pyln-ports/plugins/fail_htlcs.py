#!/usr/bin/env python3
"""Fails every HTLC it is offered with WIRE_TEMPORARY_NODE_FAILURE.

Ported from CLN's tests/plugins/fail_htlcs.py (pyln-client) to mini.py."""
import mini


def htlc_accepted(params, reply):
    mini.log("Failing htlc on purpose")
    # WIRE_TEMPORARY_NODE_FAILURE = 0x2002
    return {"result": "fail", "failure_message": "2002"}


mini.run({"hooks": [{"name": "htlc_accepted"}]}, {"htlc_accepted": htlc_accepted})
