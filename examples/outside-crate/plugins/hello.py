#!/usr/bin/env python3
"""A plugin this repository does not otherwise know: the one the outside
crate's tests test. Method `hello [name]` answers
{"greeting": "<greeting> <name>", "node_id": <id from getinfo>} where
<greeting> is the `greeting` option (default "hello")."""
import json
import os
import socket
import sys

options = {}
rpc_path = None


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n\n")
    sys.stdout.flush()


def getinfo_id():
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(rpc_path)
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getinfo", "params": {}}).encode())
        buf = b""
        while True:
            buf += s.recv(65536)
            try:
                return json.loads(buf)["result"]["id"]
            except ValueError:
                continue


def answer(req):
    method, params = req.get("method"), req.get("params", {})
    if method == "getmanifest":
        return {
            "options": [{"name": "greeting", "type": "string", "default": "hello",
                         "description": "what hello says"}],
            "rpcmethods": [{"name": "hello", "usage": "[name]", "description": "greets"}],
            "dynamic": True,
        }
    if method == "init":
        global rpc_path
        options.update(params["options"])
        conf = params["configuration"]
        rpc_path = os.path.join(conf["lightning-dir"], conf["rpc-file"])
        return {}
    if method == "hello":
        if isinstance(params, dict):
            name = params.get("name", "world")
        else:
            name = params[0] if params else "world"
        return {"greeting": f"{options.get('greeting', 'hello')} {name}", "node_id": getinfo_id()}
    return None


decoder = json.JSONDecoder()
buf = ""
for chunk in iter(lambda: sys.stdin.readline(), ""):
    buf += chunk
    while buf.strip():
        try:
            req, end = decoder.raw_decode(buf.lstrip())
        except ValueError:
            break
        buf = buf.lstrip()[end:]
        if "id" not in req:
            continue
        result = answer(req)
        if result is None:
            send({"jsonrpc": "2.0", "id": req["id"],
                  "error": {"code": -32601, "message": "unknown method"}})
        else:
            send({"jsonrpc": "2.0", "id": req["id"], "result": result})
