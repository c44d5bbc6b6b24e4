#!/usr/bin/env python3
"""`invoice_payment` hook that answers only once `unhold` is called, so
the payer waits (upstream: hold_invoice.py, which waits for a file)."""
import threading

import mini

held = []
lock = threading.Lock()


def invoice_payment(params, reply):
    with lock:
        held.append(reply)
    mini.log(f"holding payment for {params['payment']['label']}")
    return None


def unhold(params, reply):
    with lock:
        waiting = list(held)
        held.clear()
    for answer in waiting:
        answer({"result": "continue"})
    return {"released": len(waiting)}


mini.run(
    {"hooks": [{"name": "invoice_payment"}],
     "rpcmethods": [{"name": "unhold", "usage": "", "description": "lets held payments through"}]},
    {"invoice_payment": invoice_payment, "unhold": unhold},
)
