#!/usr/bin/env python3
"""`htlc_accepted` hook sending every HTLC on to the channel set by
`setfwdto <channel_id>` (`forward_to`), or letting lightningd choose until
then (upstream: htlc_accepted-fwdto.py)."""
import mini

state = {"channel": None}


def htlc_accepted(params, reply):
    if state["channel"] is None:
        return {"result": "continue"}
    return {"result": "continue", "forward_to": state["channel"]}


def setfwdto(params, reply):
    state["channel"] = params[0] if isinstance(params, list) else params["channel_id"]
    return {}


mini.run(
    {"hooks": [{"name": "htlc_accepted"}],
     "rpcmethods": [{"name": "setfwdto", "usage": "channel_id",
                     "description": "the channel to forward HTLCs to"}]},
    {"htlc_accepted": htlc_accepted, "setfwdto": setfwdto},
)
