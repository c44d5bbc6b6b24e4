#!/usr/bin/env python3
"""First of two chained `rpc_command` hooks (upstream: rpc_command_1.py):
rewrites `invoice`'s description, answers `listfunds` itself and sends
`help` to `listconfigs`."""
import mini


def rpc_command(params, reply):
    request = params["rpc_command"]
    if request["method"] == "invoice":
        request["params"]["description"] = "rewritten by the first hook"
        return {"replace": request}
    if request["method"] == "listfunds":
        return {"return": {"result": ["answered by the first hook"]}}
    if request["method"] == "help":
        request["method"] = "listconfigs"
        return {"replace": request}
    return {"result": "continue"}


mini.run({"hooks": [{"name": "rpc_command"}], "dynamic": True}, {"rpc_command": rpc_command})
