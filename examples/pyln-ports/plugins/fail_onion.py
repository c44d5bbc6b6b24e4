#!/usr/bin/env python3
"""`htlc_accepted` hook failing every HTLC with the `failure_onion` set by
`setfailonion <hex>` (upstream: htlc_accepted-failonion.py)."""
import mini

state = {"onion": None}


def htlc_accepted(params, reply):
    mini.log(f"failing with onion {state['onion']}")
    return {"result": "fail", "failure_onion": state["onion"]}


def setfailonion(params, reply):
    state["onion"] = params[0] if isinstance(params, list) else params["onion"]
    return {}


mini.run(
    {"hooks": [{"name": "htlc_accepted"}],
     "rpcmethods": [{"name": "setfailonion", "usage": "onion",
                     "description": "the failure_onion to fail HTLCs with"}]},
    {"htlc_accepted": htlc_accepted, "setfailonion": setfailonion},
)
