//! Reorganising the chain (pyln-testing's `BitcoinD.simple_reorg`): the
//! block at a height and every later one are replaced by a longer fork,
//! and the transactions they held are mined again, in the fork's first
//! block or `shift` blocks later.
//!
//! Upstream waits for bitcoind's log lines (`InvalidChainFound`, then
//! `UpdateTip`); here bitcoind's RPC says the same: `invalidateblock`
//! returns once the chain is back below the fork and the transactions are
//! in the mempool again, and `generatetoaddress` once the blocks are the
//! tip, both checked by height rather than assumed.

use serde_json::json;

use super::BitcoinD;
use crate::error::{bail, ensure, Context, Result};

/// How far, in satoshi, a transaction's fee is lowered so that the blocks
/// before `height + shift` leave it out (upstream's `fee_delta`).
const FEE_DELTA: i64 = 1_000_000;

impl BitcoinD {
    /// Replaces the chain from `height` on by a fork and moves the
    /// transactions of the replaced blocks `shift` blocks later: they are
    /// mined into block `height + shift` (`shift` 0: the fork's first
    /// block). The new chain is one block longer than the old one, or
    /// ends at `height + shift` if that is longer. A transaction the fork
    /// makes invalid (an immature coinbase spend, a locktime) is dropped
    /// by bitcoind, as upstream notes. Returns the new blocks' hashes.
    ///
    /// This waits for bitcoind only, as pyln-testing's does; nodes learn
    /// of the fork in their own time ([`Network::simple_reorg`] also
    /// waits for them). Use this one while a node is kept from seeing new
    /// blocks (a mocked `getblockhash`).
    ///
    /// [`Network::simple_reorg`]: crate::Network::simple_reorg
    pub fn simple_reorg(&self, height: u64, shift: u64) -> Result<Vec<String>> {
        let what = format!("simple_reorg(height {height}, shift {shift})");
        let tip = self.height()?;
        ensure!(
            (1..=tip).contains(&height),
            "{what}: the fork must replace a block of the chain, 1..={tip} (the genesis block cannot be replaced)"
        );
        let new_tip = (height + shift).max(tip + 1);
        let old = self.rpc("getblockhash", json!([height]))?;
        self.rpc("invalidateblock", json!([old]))?;
        let below = self.height()?;
        if below != height - 1 {
            bail!(
                "{what}: after invalidateblock {old} the chain is at {below}, not {}",
                height - 1
            );
        }
        let pending = self.mempool()?;
        let mut hashes = Vec::new();
        if shift == 0 {
            hashes.extend(self.mine_fork(new_tip - below)?);
        } else {
            self.prioritise(&pending, -FEE_DELTA)?;
            hashes.extend(self.mine_fork(shift)?);
            self.prioritise(&pending, FEE_DELTA)?;
            hashes.extend(self.mine_fork(new_tip - (below + shift))?);
        }
        let now = self.height()?;
        ensure!(
            now == new_tip,
            "{what}: the fork should end at {new_tip}, bitcoind's tip is {now}"
        );
        Ok(hashes)
    }

    /// Mines `n` blocks paying a fresh address: with the usual one, the
    /// fork's first block could be the very block just invalidated (same
    /// parent, transactions and second), which bitcoind refuses.
    fn mine_fork(&self, n: u64) -> Result<Vec<String>> {
        let address = self.new_address()?;
        let hashes = self.rpc("generatetoaddress", json!([n, address]))?;
        serde_json::from_value(hashes).context("parsing generatetoaddress reply")
    }

    /// Changes the fee bitcoind's block template counts for each of
    /// `txids` by `delta` satoshi.
    fn prioritise(&self, txids: &[String], delta: i64) -> Result<()> {
        for txid in txids {
            self.rpc("prioritisetransaction", json!([txid, null, delta]))?;
        }
        Ok(())
    }
}
