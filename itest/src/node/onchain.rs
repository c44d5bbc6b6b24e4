//! What a node does on chain once a channel closes: the transactions
//! onchaind has lightningd build and broadcast (pyln-testing's
//! `wait_for_onchaind_tx(s)`), and the commitment transaction a failing
//! channel drops (`wait_for_channel_onchain`).
//!
//! onchaind says what it proposes in two ways, and both are read:
//! - v23.08 and later: onchaind logs `Telling lightningd about <TYPE> to
//!   resolve <TX>/<OUTPUT> after block B (N more blocks)`, then lightningd
//!   builds the transaction (`Broadcast for onchaind tx <hex>`) and
//!   either defers it (`Deferring broadcast of txid`) or sends it
//!   (`Broadcasting txid`);
//! - v23.02 and before: onchaind builds it itself and logs `Propose
//!   handling <TX>/<OUTPUT> by <TYPE> (<hex>) after D blocks`, a depth
//!   that counts the block holding the output, so one more than N.
//!
//! Either way a [`OnchaindTx`] says how many more blocks lightningd waits
//! for (`blocks`, N), and a transaction sent at once is in bitcoind's
//! hands (its `sendrawtransaction` through the node's proxy answered)
//! when the wait returns.

use regex::Regex;
use serde_json::{json, Value};

use super::Node;
use crate::error::{bail, Context, Result};
use crate::logs::pattern::Pattern;
use crate::wait::wait_until;

/// A transaction onchaind had lightningd create to resolve an output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnchaindTx {
    /// The transaction, hex, as lightningd built it.
    pub rawtx: String,
    /// Its txid. lightningd may replace it by fee (see
    /// [`Network::mine_txid_or_rbf`](crate::Network::mine_txid_or_rbf)).
    pub txid: String,
    /// How many more blocks lightningd waits for before broadcasting it
    /// (upstream's `blocks`): 0 means it is broadcast now.
    pub blocks: i64,
}

impl Node {
    /// Waits until onchaind has proposed a `name` transaction to resolve
    /// `resolve` (`"OUR_UNILATERAL/DELAYED_OUTPUT_TO_US"`), searching from
    /// the log cursor, and returns it (pyln-testing's
    /// `wait_for_onchaind_tx`). When it is to be broadcast at once
    /// (`blocks == 0`), also waits until bitcoind was handed it. Later
    /// waits start after the lines read.
    ///
    /// ```no_run
    /// # fn f(net: &cln_itest::Network, l1: &cln_itest::Node) -> cln_itest::Result<()> {
    /// let tx = l1.wait_for_onchaind_tx(
    ///     "OUR_DELAYED_RETURN_TO_WALLET",
    ///     "OUR_UNILATERAL/DELAYED_OUTPUT_TO_US",
    /// )?;
    /// assert_eq!(tx.blocks, 4); // the peer's to_self_delay (5) less one
    /// net.mine(4)?;
    /// net.mine_txid_or_rbf(l1, &tx.txid, 1)?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_onchaind_tx(&self, name: &str, resolve: &str) -> Result<OnchaindTx> {
        Ok(self.wait_for_onchaind_txs(&[(name, resolve)])?.remove(0))
    }

    /// [`Node::wait_for_onchaind_tx`] for several `(name, resolve)` pairs
    /// proposed in any order, each searched from the same cursor; returns
    /// them in the order given, and leaves the cursor after the last line
    /// any of them read (pyln-testing's `wait_for_onchaind_txs`).
    pub fn wait_for_onchaind_txs(&self, pairs: &[(&str, &str)]) -> Result<Vec<OnchaindTx>> {
        let start = self.log_cursor();
        let mut furthest = start.clone();
        let mut found = Vec::with_capacity(pairs.len());
        for (name, resolve) in pairs {
            self.set_log_cursor(&start)?;
            let tx = self.read_onchaind_tx(name, resolve).with_context(|| {
                format!("{}: onchaind's {name} to resolve {resolve}", self.name)
            })?;
            found.push(tx);
            let here = self.log_cursor();
            if here.line() > furthest.line() {
                furthest = here;
            }
        }
        self.set_log_cursor(&furthest)?;
        Ok(found)
    }

    /// Waits until bitcoind's mempool holds the commitment transaction
    /// this node's channel with `peer` dropped (its `scratch_txid`), and
    /// returns its txid (pyln-testing's `wait_for_channel_onchain`).
    pub fn wait_for_channel_onchain(&self, peer: &Node) -> Result<String> {
        let what = format!("{}'s channel with {} to be on chain", self.name, peer.name);
        wait_until(&what, self.timeout(), |last| {
            let channel = self.channel_with(peer)?;
            let Some(txid) = channel
                .as_ref()
                .and_then(|c| c["scratch_txid"].as_str())
                .map(str::to_string)
            else {
                *last = format!("no scratch_txid in {channel:?}");
                return Ok(None);
            };
            let mempool = self.bitcoind.rpc("getrawmempool", json!([]))?;
            if mempool.as_array().is_some_and(|m| m.contains(&json!(txid))) {
                return Ok(Some(txid));
            }
            *last = format!("scratch_txid {txid} not in the mempool {mempool}");
            Ok(None)
        })
    }

    /// One pair, from the cursor: the proposal line in either format,
    /// then (newer releases) lightningd's transaction for it.
    fn read_onchaind_tx(&self, name: &str, resolve: &str) -> Result<OnchaindTx> {
        let (n, r) = (regex::escape(name), regex::escape(resolve));
        let proposal = format!(
            r"Telling lightningd about {n} to resolve {r} .*\((?P<more>-?[0-9]+) more blocks\)|Propose handling {r} by {n} \((?P<raw>[0-9a-fA-F]+)\) after (?P<depth>[0-9]+) blocks"
        );
        let line = self.wait_for_log(Pattern::regex(proposal.clone()))?;
        let caps = Regex::new(&proposal)
            .expect("an escaped pattern")
            .captures(&line)
            .with_context(|| format!("re-reading {line:?}"))?;
        let (rawtx, blocks) = if let Some(raw) = caps.name("raw") {
            let depth: i64 = caps["depth"].parse().context("onchaind's depth")?;
            (raw.as_str().to_string(), (depth - 1).max(0))
        } else {
            let blocks: i64 = caps["more"].parse().context("onchaind's block count")?;
            // lightningd answers onchaind before onchaind goes on, so the
            // next transaction lightningd builds is this one.
            let built = self.wait_for_log(r"Broadcast for onchaind tx [0-9a-fA-F]+")?;
            let raw = Regex::new(r"Broadcast for onchaind tx ([0-9a-fA-F]+)")
                .expect("a valid regex")
                .captures(&built)
                .map(|c| c[1].to_string())
                .with_context(|| format!("no transaction in {built:?}"))?;
            (raw, blocks)
        };
        let txid = self.txid_of(&rawtx)?;
        if blocks <= 0 {
            self.wait_until_sent(&rawtx, &txid)?;
        }
        Ok(OnchaindTx {
            rawtx,
            txid,
            blocks,
        })
    }

    /// The txid of `rawtx`, as bitcoind decodes it.
    fn txid_of(&self, rawtx: &str) -> Result<String> {
        let decoded: Value = self.bitcoind.rpc("decoderawtransaction", json!([rawtx]))?;
        match decoded["txid"].as_str() {
            Some(txid) => Ok(txid.to_string()),
            None => bail!("decoderawtransaction gave no txid: {decoded}"),
        }
    }

    /// Waits until lightningd has handed `rawtx` to bitcoind and bitcoind
    /// answered (what pyln-testing reads from bcli's `sendrawtx exit`
    /// line; here the node's bitcoind proxy saw the call).
    fn wait_until_sent(&self, rawtx: &str, txid: &str) -> Result<()> {
        let what = format!("{} to send {txid} to bitcoind", self.name);
        wait_until(&what, self.timeout(), |last| {
            let calls = self.proxy.calls_to("sendrawtransaction");
            let sent = calls.iter().any(|c| {
                c.params[0]
                    .as_str()
                    .is_some_and(|hex| hex.eq_ignore_ascii_case(rawtx))
            });
            if sent {
                return Ok(Some(()));
            }
            *last = format!("{} sendrawtransaction calls, none of it", calls.len());
            Ok(None)
        })
    }
}
