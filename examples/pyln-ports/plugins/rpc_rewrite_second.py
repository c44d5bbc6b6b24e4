#!/usr/bin/env python3
"""Second of two chained `rpc_command` hooks (upstream: rpc_command_2.py):
also rewrites `invoice`'s description (too late: the first hook's rewrite
wins), and refuses `sendpay` with an error of its own."""
import mini


def rpc_command(params, reply):
    request = params["rpc_command"]
    if request["method"] == "invoice":
        request["params"]["description"] = "rewritten by the second hook"
        return {"replace": request}
    if request["method"] == "sendpay":
        return {"return": {"error": {"code": -1, "message": "the second hook refuses sendpay"}}}
    return {"result": "continue"}


mini.run({"hooks": [{"name": "rpc_command"}], "dynamic": True}, {"rpc_command": rpc_command})
