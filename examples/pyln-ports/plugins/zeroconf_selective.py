#!/usr/bin/env python3
"""Accepts channels from the peer `zeroconf_allow` names (or from anyone
with `any`) at depth `zeroconf_mindepth` (default 0), through the
`openchannel` hook; other channels keep the node's own depth. What
upstream's zeroconf-selective.py does for its reorg tests."""
import mini

options = {"zeroconf_allow": "", "zeroconf_mindepth": 0}


def init(params):
    options.update(params.get("options", {}))


def openchannel(params, reply):
    allow = options["zeroconf_allow"]
    if allow in ("any", params["openchannel"]["id"]):
        depth = int(options["zeroconf_mindepth"])
        mini.log(f"zeroconf for {params['openchannel']['id']}: mindepth {depth}")
        return {"result": "continue", "mindepth": depth}
    return {"result": "continue"}


mini.run(
    {"options": [
        {"name": "zeroconf_allow", "type": "string", "default": "",
         "description": "the peer whose channels need no confirmation, or 'any'"},
        {"name": "zeroconf_mindepth", "type": "int", "default": 0,
         "description": "the depth those channels need"},
    ], "hooks": [{"name": "openchannel"}]},
    {"openchannel": openchannel},
    on_init=init,
)
