#!/usr/bin/env python3
"""`openchannel` (and `openchannel2`) hook: logs how many fields the
request has and each of them (`key=value`, objects as JSON), and refuses
channels of an odd number of satoshis (upstream:
reject_odd_funding_amounts.py)."""
import json

import mini


def msat(value):
    # Before v23.05 amounts may come as "123msat".
    return int(str(value).removesuffix("msat"))


def opening(params, reply):
    request = params.get("openchannel") or params.get("openchannel2")
    mini.log(f"{len(request)} VARS")
    for key, value in request.items():
        shown = json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else value
        mini.log(f"{key}={shown}")
    funding = request.get("funding_msat", request.get("their_funding_msat"))
    if (msat(funding) // 1000) % 2 == 1:
        return {"result": "reject", "error_message": "odd amounts are refused here"}
    return {"result": "continue"}


mini.run({"hooks": [{"name": "openchannel"}, {"name": "openchannel2"}]},
         {"openchannel": opening, "openchannel2": opening})
