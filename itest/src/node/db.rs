//! Where a node keeps its wallet ([`DbProvider`]), and reading it.

use crate::conf::NodeConf;
use crate::error::{bail, Context, Error, Result};
use crate::lightningd::bin::LightningdBin;
use crate::postgres::{check_driver, DbProvider, DbRow, Postgres};

use super::{lock, Node};

impl Node {
    /// Where the node's next start keeps its wallet: its
    /// [`NodeConf::db_provider`], else the network's
    /// [`Conf::db_provider`](crate::Conf::db_provider).
    pub fn db_provider(&self) -> DbProvider {
        provider(&lock(&self.conf), self.default_db_provider)
    }

    /// The `--wallet=` option for a start with `conf` on `bin`: none on
    /// SQLite, or when the node's own options name a wallet; on PostgreSQL
    /// the node's database (created at its first start, the network's
    /// server started if it is not yet), once `bin` is known to have the
    /// driver.
    pub(crate) fn wallet_options(
        &self,
        conf: &NodeConf,
        bin: &LightningdBin,
    ) -> Result<Vec<String>> {
        if provider(conf, self.default_db_provider) != DbProvider::Postgres || names_wallet(conf) {
            return Ok(Vec::new());
        }
        check_driver(&self.placement, &bin.path)?;
        let server = self.postgres.get_or_start(self.placement.side())?;
        server.ensure_database(&self.name)?;
        let (_, host) = self
            .placement
            .test_process_endpoint()
            .map_err(Error::internal)?;
        Ok(vec![format!(
            "--wallet={}",
            server.dsn_via(&host, &self.name)
        )])
    }

    /// The node's PostgreSQL database as this machine reaches it
    /// (`postgres://postgres@127.0.0.1:<port>/l1`), for any client:
    /// `None` until the node has started on PostgreSQL.
    pub fn postgres_dsn(&self) -> Option<String> {
        self.started_on_postgres().map(|s| s.dsn(&self.name))
    }

    /// Runs `sql` on the node's wallet database and returns the rows
    /// (pyln-testing's `db_query`), each a map from column name to value:
    /// integers and floats as numbers, text as strings, `bytea` (CLN's
    /// ids, keys, scripts) as lower-case hex strings, booleans, NULL as
    /// null; a column of another type fails, naming it (cast it in the
    /// query: `col::text`). The node may be running: PostgreSQL serves
    /// both.
    ///
    /// PostgreSQL nodes only ([`DbProvider::Postgres`]); on SQLite it
    /// fails, naming the file to open with a SQLite client instead.
    ///
    /// ```no_run
    /// # fn f(node: &cln_itest::Node) -> cln_itest::Result<()> {
    /// let rows = node.db_query("SELECT COUNT(*) AS n FROM addresses")?;
    /// assert!(rows[0]["n"].as_i64().unwrap() >= 1);
    /// # Ok(()) }
    /// ```
    pub fn db_query(&self, sql: &str) -> Result<Vec<DbRow>> {
        match self.started_on_postgres() {
            Some(server) => server
                .query(&self.name, sql)
                .with_context(|| format!("{}: db_query", self.name)),
            None if self.db_provider() == DbProvider::Postgres => bail!(
                "{}: db_query: the node has not started on PostgreSQL yet (its database is made at its first start)",
                self.name
            ),
            None => bail!(
                "{}: db_query reads PostgreSQL nodes only, and this one keeps its wallet in SQLite: open {} with a SQLite client (e.g. the rusqlite crate), or start the node with DbProvider::Postgres",
                self.name,
                self.dir.join("regtest").join("lightningd.sqlite3").display()
            ),
        }
    }

    /// The network's server, if this node's database is on it.
    fn started_on_postgres(&self) -> Option<Postgres> {
        let conf = lock(&self.conf);
        if provider(&conf, self.default_db_provider) != DbProvider::Postgres || names_wallet(&conf)
        {
            return None;
        }
        drop(conf);
        self.postgres.get().filter(|s| s.has_database(&self.name))
    }
}

fn provider(conf: &NodeConf, default: DbProvider) -> DbProvider {
    conf.db_provider.unwrap_or(default)
}

/// Whether the node's own options give `--wallet`.
fn names_wallet(conf: &NodeConf) -> bool {
    conf.options().any(|o| {
        let o = o.trim_start_matches('-');
        o == "wallet" || o.starts_with("wallet=")
    })
}
