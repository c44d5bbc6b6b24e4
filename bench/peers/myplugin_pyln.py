#!/usr/bin/env python3
"""Benchmark peer: the myplugin contract with pyln-client's Plugin class.

pyln-client does the framing, the manifest and the options; `plugin.rpc` is
its client for lightningd's socket. We subscribe to `shutdown` and exit on it
(as the other peers do), so `plugin stop` does not wait for a kill.
The node id is asked once and cached. The method takes its params raw
(*args or **kwargs) so that `cli_params` is what the caller sent, array or
object (a key named `plugin` or `request` would be shadowed by pyln).
"""

from pyln.client import Plugin

plugin = Plugin(dynamic=True)
plugin.add_option("foo_opt", "bar", "A string echoed back by myplugin")
node_id = None


@plugin.method("myplugin")
def myplugin(plugin, request, *args, **kwargs):
    """Node id, foo_opt and the params as received."""
    # pyln binds params to the signature (and adds `plugin`/`request` to a
    # params object), so rebuild what the caller sent from what was bound.
    cli_params = list(args) if isinstance(request.params, list) else dict(kwargs)
    global node_id
    if node_id is None:
        node_id = plugin.rpc.getinfo()["id"]
    return {
        "node_id": node_id,
        "option": {"foo_opt": plugin.get_option("foo_opt")},
        "cli_params": cli_params,
    }


@plugin.subscribe("shutdown")
def on_shutdown(plugin, **kwargs):
    plugin.log("shutdown notification received, exiting", level="debug")
    raise SystemExit(0)


plugin.run()
