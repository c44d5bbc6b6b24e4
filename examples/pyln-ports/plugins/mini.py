"""A minimal, library-free CLN plugin loop for the ported tests' plugins.

A plugin module calls run(manifest, methods, on_init=None, on_notify=None).
`methods` maps a method name to handler(params, reply) -> result | None;
returning None leaves the request open (reply(result) answers it later,
from any thread); raising RpcError answers with that error. Everything is
written to stdout as JSON followed by a blank line; logs go through `log`
notifications.
"""
import json
import sys
import threading

_out = threading.Lock()


class RpcError(Exception):
    """Raised by a method handler: the call is answered with this error."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def payload(params, *names):
    """A notification's own object: lightningd wraps it in a key named
    after the topic, or another name in older releases (v23.02 sends
    block_added as `block`); else the params themselves."""
    for name in names:
        if isinstance(params, dict) and name in params:
            return params[name]
    return params


def send(obj):
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n\n")
        sys.stdout.flush()


def log(message, level="info"):
    send({"jsonrpc": "2.0", "method": "log", "params": {"level": level, "message": message}})


def run(manifest, methods, on_init=None, on_notify=None):
    # lightningd requires both lists, even when empty.
    manifest = {"options": [], "rpcmethods": [], **manifest}
    decoder = json.JSONDecoder()
    buf = ""
    for chunk in iter(sys.stdin.readline, ""):
        buf += chunk
        while buf.strip():
            try:
                req, end = decoder.raw_decode(buf.lstrip())
            except ValueError:
                break
            buf = buf.lstrip()[end:]
            _handle(req, manifest, methods, on_init, on_notify)


def _handle(req, manifest, methods, on_init, on_notify):
    method, params, rid = req.get("method"), req.get("params", {}), req.get("id")

    def reply(result):
        send({"jsonrpc": "2.0", "id": rid, "result": result})

    if rid is None:
        if on_notify:
            on_notify(method, params)
        return
    if method == "getmanifest":
        return reply(manifest)
    if method == "init":
        if on_init:
            on_init(params)
        return reply({})
    handler = methods.get(method)
    if handler is None:
        return send({"jsonrpc": "2.0", "id": rid,
                     "error": {"code": -32601, "message": f"unknown method {method}"}})
    try:
        result = handler(params, reply)
    except RpcError as e:
        return send({"jsonrpc": "2.0", "id": rid,
                     "error": {"code": e.code, "message": e.message}})
    if result is not None:
        reply(result)
