"""The pyln-testing side of "nothing to a ready network": bitcoind, two
lightningd (node_factory.get_nodes(2)) and myplugin started on l1."""

import os
import time


def test_network_ready(node_factory, stamps):
    l1, l2 = node_factory.get_nodes(2)
    l1.rpc.plugin_start(os.environ["BENCH_PLUGIN"], foo_opt="BAR")
    stamps["ready"] = time.time()
    reply = l1.rpc.call("myplugin", ["bench"])
    assert reply["option"] == {"foo_opt": "BAR"}
    assert reply["node_id"] == l1.info["id"]
    assert reply["cli_params"] == ["bench"]
