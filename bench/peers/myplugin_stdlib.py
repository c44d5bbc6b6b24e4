#!/usr/bin/env python3
"""Benchmark peer: the myplugin contract in Python without libraries.

The tutorial-style plugin, done right: stdin is read as a byte stream and cut
into JSON objects with JSONDecoder.raw_decode (lightningd's "\\n\\n" between
messages is a courtesy, not framing), and the node id comes from one
`getinfo` over lightningd's unix socket, read until the reply is complete,
then cached.
"""

import codecs
import json
import os
import socket
import sys

DECODER = json.JSONDecoder()

MANIFEST = {
    "options": [{
        "name": "foo_opt",
        "type": "string",
        "default": "bar",
        "description": "A string echoed back by myplugin",
    }],
    "rpcmethods": [{
        "name": "myplugin",
        "usage": "[param...]",
        "description": "Node id, foo_opt and the params as received",
    }],
    "subscriptions": ["shutdown"],
    "dynamic": True,
    "nonnumericids": True,
}


class Stream:
    """Cuts a byte stream into JSON values (UTF-8 decoded incrementally, so a
    character split across two reads is fine)."""

    def __init__(self, read):
        self.read = read
        self.text = ""
        self.utf8 = codecs.getincrementaldecoder("utf-8")()

    def next(self):
        """The next JSON value, or None at end of input."""
        while True:
            text = self.text.lstrip()
            if text:
                if text[0] != "{":
                    # Not a message: skip to where the next one can start.
                    cut = text.find("{")
                    self.text = text[cut:] if cut >= 0 else ""
                    continue
                try:
                    value, end = DECODER.raw_decode(text)
                    self.text = text[end:]
                    return value
                except json.JSONDecodeError:
                    pass  # incomplete: read more
            chunk = self.read()
            if not chunk:
                return None
            self.text = text + self.utf8.decode(chunk)


class Node:
    """lightningd's JSON-RPC socket, used for one cached getinfo."""

    def __init__(self, path):
        self.path = path
        self.node_id = None

    def getinfo_id(self):
        if self.node_id is None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(self.path)
                req = {"jsonrpc": "2.0", "id": "myplugin:getinfo#1", "method": "getinfo", "params": {}}
                s.sendall(json.dumps(req).encode())
                reply = Stream(lambda: s.recv(65536)).next()
            if reply is None or "result" not in reply:
                raise RuntimeError("getinfo failed: %r" % (reply,))
            self.node_id = reply["result"]["id"]
        return self.node_id


def send(obj):
    out = sys.stdout.buffer
    out.write(json.dumps(obj).encode() + b"\n\n")
    out.flush()


def main():
    stream = Stream(lambda: os.read(0, 65536))
    foo_opt = "bar"
    node = None
    while True:
        msg = stream.next()
        if msg is None:
            return
        method = msg.get("method")
        if "id" not in msg:
            if method == "shutdown":
                return
            continue
        rid = msg["id"]
        params = msg.get("params", {})
        if method == "getmanifest":
            send({"jsonrpc": "2.0", "id": rid, "result": MANIFEST})
        elif method == "init":
            foo_opt = params.get("options", {}).get("foo_opt", "bar")
            conf = params["configuration"]
            node = Node(os.path.join(conf["lightning-dir"], conf["rpc-file"]))
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
        elif method == "myplugin":
            try:
                result = {
                    "node_id": node.getinfo_id(),
                    "option": {"foo_opt": foo_opt},
                    "cli_params": params,
                }
                send({"jsonrpc": "2.0", "id": rid, "result": result})
            except Exception as e:  # noqa: BLE001 - reported to the caller
                send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": str(e)}})
        else:
            send({"jsonrpc": "2.0", "id": rid,
                  "error": {"code": -32601, "message": "Unknown method '%s'" % method}})


if __name__ == "__main__":
    main()
