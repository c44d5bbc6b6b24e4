//! The chain as tests drive it: waiting for transactions in bitcoind's
//! mempool, mining them, and waiting until the nodes have caught up
//! (pyln-testing's `generate_block(n, wait_for_mempool=...)`,
//! `sync_blockheight` and `simple_reorg`).

use crate::error::{bail, Context, Result};
use serde_json::json;

use super::Network;
use crate::wait::wait_until;

/// What to wait for in bitcoind's mempool before mining, as pyln-testing's
/// `wait_for_mempool` takes it: given transactions, or a number of them.
///
/// ```
/// use cln_itest::Mempool;
///
/// assert_eq!(Mempool::from("ab12"), Mempool::Txids(vec!["ab12".into()]));
/// assert_eq!(Mempool::from(["ab12", "cd34"]).len(), 2);
/// assert_eq!(Mempool::from(1), Mempool::AtLeast(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mempool {
    /// Every one of these transactions (txids, hex).
    Txids(Vec<String>),
    /// At least this many transactions, whichever they are (say, the
    /// closing transaction lightningd just broadcast).
    AtLeast(usize),
}

impl Mempool {
    /// How many transactions it waits for.
    pub fn len(&self) -> usize {
        match self {
            Mempool::Txids(txids) => txids.len(),
            Mempool::AtLeast(n) => *n,
        }
    }

    /// Whether it waits for nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `mempool` (txids) holds what this asks for.
    fn met_by(&self, mempool: &[String]) -> bool {
        match self {
            Mempool::Txids(txids) => txids.iter().all(|t| mempool.contains(t)),
            Mempool::AtLeast(n) => mempool.len() >= *n,
        }
    }
}

impl From<&str> for Mempool {
    fn from(txid: &str) -> Self {
        Mempool::Txids(vec![txid.to_string()])
    }
}

impl From<String> for Mempool {
    fn from(txid: String) -> Self {
        Mempool::Txids(vec![txid])
    }
}

impl From<&String> for Mempool {
    fn from(txid: &String) -> Self {
        Mempool::Txids(vec![txid.clone()])
    }
}

impl From<Vec<String>> for Mempool {
    fn from(txids: Vec<String>) -> Self {
        Mempool::Txids(txids)
    }
}

impl From<&[String]> for Mempool {
    fn from(txids: &[String]) -> Self {
        Mempool::Txids(txids.to_vec())
    }
}

impl From<&[&str]> for Mempool {
    fn from(txids: &[&str]) -> Self {
        Mempool::Txids(txids.iter().map(|t| t.to_string()).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Mempool {
    fn from(txids: [&str; N]) -> Self {
        Mempool::Txids(txids.iter().map(|t| t.to_string()).collect())
    }
}

impl From<usize> for Mempool {
    fn from(n: usize) -> Self {
        Mempool::AtLeast(n)
    }
}

impl Network {
    /// Mines `n` blocks and waits until every started node has processed
    /// them (a node that died fails this, naming it; stopped nodes are
    /// skipped).
    pub fn mine(&self, n: u64) -> Result<()> {
        self.bitcoind().mine(n)?;
        self.sync_blockheight()
    }

    /// Waits until bitcoind's mempool holds what `want` says and returns
    /// the txids in it then. On timeout the error says what was missing.
    pub fn wait_for_mempool(&self, want: impl Into<Mempool>) -> Result<Vec<String>> {
        let want = want.into();
        let what = format!("bitcoind's mempool to hold {want:?}");
        wait_until(&what, self.conf().timeout, |last| {
            let mempool = self.bitcoind().mempool()?;
            if want.met_by(&mempool) {
                return Ok(Some(mempool));
            }
            *last = format!("mempool {mempool:?}");
            Ok(None)
        })
    }

    /// pyln-testing's `generate_block(blocks, wait_for_mempool=want)`:
    /// waits until the mempool holds `want`, mines `blocks` blocks, checks
    /// that the first of them has the awaited transactions (a transaction
    /// bitcoind keeps out, such as one paying too little fee, fails here
    /// by name), and waits until every running node has processed them.
    /// Returns the blocks' hashes.
    pub fn mine_with_mempool(&self, blocks: u64, want: impl Into<Mempool>) -> Result<Vec<String>> {
        let want = want.into();
        if blocks == 0 {
            bail!("mine_with_mempool needs at least one block to put {want:?} in");
        }
        let seen = self.wait_for_mempool(want.clone())?;
        let hashes = self.bitcoind().mine(blocks)?;
        let first = &hashes[0];
        let block = self.bitcoind().rpc("getblock", json!([first]))?;
        let mined: Vec<String> = serde_json::from_value(block["tx"].clone())
            .with_context(|| format!("getblock {first} has no `tx` list: {block}"))?;
        match &want {
            Mempool::Txids(txids) => {
                let missing: Vec<&String> = txids.iter().filter(|t| !mined.contains(t)).collect();
                if !missing.is_empty() {
                    bail!(
                        "block {first} does not contain {missing:?} although the mempool did \
                         (its feerate may be too low for bitcoind's block template)"
                    );
                }
            }
            Mempool::AtLeast(n) => {
                let included = seen.iter().filter(|t| mined.contains(t)).count();
                if included < *n {
                    bail!(
                        "block {first} has {included} of the mempool's transactions {seen:?}, \
                         fewer than the {n} awaited"
                    );
                }
            }
        }
        self.sync_blockheight()?;
        Ok(hashes)
    }

    /// Waits until every running node (and every node that died, which
    /// fails this, naming it) has processed bitcoind's current tip
    /// (pyln-testing's `sync_blockheight`).
    pub fn sync_blockheight(&self) -> Result<()> {
        let began = std::time::Instant::now();
        let height = self.bitcoind().height()?;
        let started = self
            .nodes()
            .into_iter()
            .filter(|n| n.is_running() || n.died().is_some());
        for node in started {
            node.wait_blockheight(height)?;
        }
        // Mostly lightningd's own bitcoind poll (`--dev-bitcoind-poll`).
        self.timeline
            .record(format!("nodes at block {height} (sync_blockheight)"), began);
        Ok(())
    }

    /// pyln-testing's `simple_reorg(height, shift)`:
    /// [`BitcoinD::simple_reorg`](crate::BitcoinD::simple_reorg) (the
    /// blocks from `height` on replaced by a longer fork, their
    /// transactions mined `shift` blocks later), then waits until every
    /// running node has processed the fork's tip. That tip is past the old
    /// one, so each node has seen the reorganisation (upstream waits for
    /// bitcoind only). Returns the fork's block hashes.
    ///
    /// ```no_run
    /// # fn f(net: &cln_itest::Network) -> cln_itest::Result<()> {
    /// // The funding transaction was mined at 103: move it to 104, so the
    /// // channel's short_channel_id changes.
    /// net.simple_reorg(103, 1)?;
    /// # Ok(()) }
    /// ```
    pub fn simple_reorg(&self, height: u64, shift: u64) -> Result<Vec<String>> {
        let hashes = self.bitcoind().simple_reorg(height, shift)?;
        self.sync_blockheight()?;
        Ok(hashes)
    }
}
