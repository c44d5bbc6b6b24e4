//! What a node's lightningd sees of bitcoind: everything goes through the
//! node's own proxy, which a test can script.

use crate::error::Result;

use super::Node;
use crate::chain_proxy::{ChainProxy, Feerates};

/// `estimatesmartfee` calls lightningd makes per fee poll (targets 2, 6, 12
/// and 100 blocks, in every release from v23.02 to v26.06).
const ESTIMATES_PER_POLL: u64 = 4;

impl Node {
    /// The proxy this node's lightningd reaches bitcoind through: fix or
    /// change its feerates, answer, delay or fail any bitcoind call it
    /// makes, and see what it asked (pyln-testing's `rpcproxy`). Starts
    /// with [`NodeConf::feerates`](crate::NodeConf::feerates).
    ///
    /// ```no_run
    /// # let net = cln_itest::Network::start().unwrap();
    /// use cln_itest::MockReply;
    /// let proxy = net.node(0).bitcoind_proxy();
    /// proxy.mock("sendrawtransaction", |_| MockReply::error(-26, "txn-mempool-conflict"));
    /// assert!(proxy.count("estimatesmartfee") > 0);
    /// ```
    pub fn bitcoind_proxy(&self) -> &ChainProxy {
        &self.proxy
    }

    /// Makes the proxy answer lightningd's fee estimates with `feerates`
    /// (`None`: bitcoind's own) and, if the node runs, waits until
    /// lightningd has polled them twice, so that its estimates are based
    /// on them when this returns (pyln-testing's `set_feerates` waits
    /// once). lightningd itself smooths its estimates over several polls,
    /// by how much depends on the release, so they move towards the new
    /// rates rather than jump to them; for exact feerates from the start,
    /// set [`NodeConf::feerates`](crate::NodeConf::feerates).
    pub fn set_feerates(&self, feerates: Option<Feerates>) -> Result<()> {
        let before = self.proxy.count("estimatesmartfee");
        self.proxy.set_feerates(feerates);
        if !self.is_running() {
            return Ok(());
        }
        self.proxy
            .wait_for_calls(
                "estimatesmartfee",
                before + 2 * ESTIMATES_PER_POLL,
                self.timeout(),
            )
            .map(|_| ())
    }
}
