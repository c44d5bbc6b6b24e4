//! Mining a transaction lightningd may replace by fee while the test
//! waits (pyln-testing's `mine_txid_or_rbf`).
//!
//! lightningd v23.08 and later raise the fee of the transactions onchaind
//! asks for as blocks pass, logging `RBF onchain txid <old> (fee ..sat)
//! with txid <new> (fee ..sat)` (`RBF HTLC txid` for HTLC transactions),
//! so the txid a test was given may never be mined: its last replacement
//! is. Older releases do not replace them (only penalties, built anew by
//! onchaind), and never log such a line.

use regex::Regex;
use serde_json::json;

use super::Network;
use crate::error::{bail, Context, Result};
use crate::node::Node;
use crate::wait::wait_until;

impl Network {
    /// Waits until bitcoind's mempool holds `txid` or a replacement of it
    /// that `node` logged, mines `blocks` blocks, waits until every node
    /// has processed them, and returns the txid of the one the first
    /// block holds. Fails, naming every txid followed, when none was
    /// mined.
    pub fn mine_txid_or_rbf(&self, node: &Node, txid: &str, blocks: u64) -> Result<String> {
        if blocks == 0 {
            bail!("mine_txid_or_rbf needs at least one block to mine {txid} in");
        }
        let mut txids = vec![txid.to_string()];
        let what = format!(
            "{txid} or a replacement {} logged in the mempool",
            node.name()
        );
        wait_until(&what, self.conf().timeout, |last| {
            follow_replacements(node, &mut txids)?;
            let mempool = self.bitcoind().rpc("getrawmempool", json!([]))?;
            let pending = mempool.as_array().cloned().unwrap_or_default();
            if txids.iter().any(|t| pending.contains(&json!(t))) {
                return Ok(Some(()));
            }
            *last = format!("following {txids:?}; mempool {mempool}");
            Ok(None)
        })?;
        let hashes = self.bitcoind().mine(blocks)?;
        // A replacement may have come in just before the block.
        follow_replacements(node, &mut txids)?;
        let block = self.bitcoind().rpc("getblock", json!([hashes[0]]))?;
        let mined = block["tx"]
            .as_array()
            .with_context(|| format!("getblock {} has no `tx` list: {block}", hashes[0]))?;
        let Some(found) = txids.iter().find(|t| mined.contains(&json!(t))).cloned() else {
            bail!(
                "block {} holds none of {txids:?} ({} followed its replacements)",
                hashes[0],
                node.name()
            );
        };
        self.sync_blockheight()?;
        Ok(found)
    }
}

/// Adds to `txids` every replacement `node` has logged of one of them.
fn follow_replacements(node: &Node, txids: &mut Vec<String>) -> Result<()> {
    let rbf = Regex::new(
        r"RBF (?:onchain|HTLC) txid ([0-9a-f]+) \(fee [0-9]+sat\) with txid ([0-9a-f]+)",
    )
    .expect("a valid regex");
    let lines = node.log_lines()?;
    // Replacements of replacements: repeat until nothing new.
    loop {
        let before = txids.len();
        for caps in lines.iter().filter_map(|l| rbf.captures(l)) {
            if txids.iter().any(|t| t == &caps[1]) && !txids.iter().any(|t| t == &caps[2]) {
                txids.push(caps[2].to_string());
            }
        }
        if txids.len() == before {
            return Ok(());
        }
    }
}
