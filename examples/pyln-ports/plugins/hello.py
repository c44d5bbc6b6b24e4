#!/usr/bin/env python3
"""Methods `hello [name]` (greets with the `greeting` option) and
`bye name`, and a log line for each `invoice_creation` notification
(upstream: contrib/plugins/helloworld.py, without its 20 s
`htlc_accepted` hook, which the ported tests do not reach)."""
import mini

state = {"greeting": "Hello"}


def on_init(params):
    state["greeting"] = params.get("options", {}).get("greeting", "Hello")
    mini.log("Plugin hello.py initialized")


def hello(params, reply):
    name = params[0] if isinstance(params, list) and params else (
        params.get("name", "world") if isinstance(params, dict) else "world")
    greeting = f"{state['greeting']} {name}"
    mini.log(greeting)
    return greeting


def bye(params, reply):
    name = params[0] if isinstance(params, list) and params else (
        params.get("name") if isinstance(params, dict) else None)
    if name is None:
        raise mini.RpcError(-32602, "bye: missing required parameter name")
    return f"Bye {name}"


def notified(method, params):
    if method == "invoice_creation":
        invoice = mini.payload(params, "invoice_creation")
        mini.log(f"invoice_creation: label {invoice['label']}, preimage {invoice['preimage']}, "
                 f"amount {invoice['msat']}")


mini.run(
    {"options": [{"name": "greeting", "type": "string", "default": "Hello",
                  "description": "what hello says"}],
     "rpcmethods": [
         {"name": "hello", "usage": "[name]", "description": "greets name"},
         {"name": "bye", "usage": "name", "description": "says goodbye to name"},
     ],
     "subscriptions": ["invoice_creation"]},
    {"hello": hello, "bye": bye},
    on_init=on_init,
    on_notify=notified,
)
