#!/usr/bin/env python3
"""`invoice_payment` hook: logs each payment's label, amount and preimage,
and refuses (temporary_node_failure, 0x2002) those whose preimage ends in
a 0 (upstream: reject_some_invoices.py, pyln-client)."""
import mini


def invoice_payment(params, reply):
    payment = params["payment"]
    mini.log(f"label={payment['label']}")
    mini.log(f"msat={payment['msat']}")
    mini.log(f"preimage={payment['preimage']}")
    if payment["preimage"].endswith("0"):
        return {"failure_message": "2002"}
    return {"result": "continue"}


mini.run({"hooks": [{"name": "invoice_payment"}]}, {"invoice_payment": invoice_payment})
