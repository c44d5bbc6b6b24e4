//! Which database a node keeps its wallet in (pyln-testing's
//! `db_provider`).

use std::fmt;
use std::str::FromStr;

/// The variable giving [`Conf::db_provider`](crate::Conf::db_provider)
/// its default, as pyln-testing's `TEST_DB_PROVIDER` does.
pub const DB_PROVIDER_VAR: &str = "ITEST_DB_PROVIDER";

/// Where a node keeps its wallet database (pyln-testing's `db_provider`).
///
/// ```
/// use cln_itest::{Conf, DbProvider, NodeConf};
///
/// // Every node of the network on PostgreSQL ...
/// let conf = Conf::with_nodes(2).with_db_provider(DbProvider::Postgres);
/// // ... or one node.
/// let node = NodeConf::default().with_db_provider(DbProvider::Postgres);
/// assert_eq!(node.db_provider, Some(DbProvider::Postgres));
/// assert_eq!("sqlite3".parse::<DbProvider>().unwrap(), DbProvider::Sqlite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DbProvider {
    /// lightningd's default: `lightningd.sqlite3` in the node's
    /// lightning-dir.
    #[default]
    Sqlite,
    /// A database of its own (named as the node, `l1`, ...) on a
    /// PostgreSQL server the network starts on this machine, given to
    /// lightningd as `--wallet=postgres://...`. Needs PostgreSQL's server
    /// programs here and a lightningd built with the PostgreSQL driver
    /// (see [`needs_postgres!`](crate::needs_postgres)).
    Postgres,
}

impl DbProvider {
    /// [`DB_PROVIDER_VAR`]'s provider; [`DbProvider::Sqlite`] when unset.
    pub(crate) fn from_env() -> Result<Self, String> {
        match std::env::var(DB_PROVIDER_VAR) {
            Ok(v) if !v.trim().is_empty() => {
                v.parse().map_err(|e| format!("{DB_PROVIDER_VAR}: {e}"))
            }
            _ => Ok(Self::Sqlite),
        }
    }
}

impl FromStr for DbProvider {
    type Err = String;

    /// `sqlite3` (pyln-testing's name) or `sqlite`, `postgres` or
    /// `postgresql`, in any case.
    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sqlite3" | "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            other => Err(format!(
                "unknown database provider {other:?}: expected sqlite3 or postgres"
            )),
        }
    }
}

impl fmt::Display for DbProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite3",
            Self::Postgres => "postgres",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyln_names_parse_and_a_misspelt_one_is_named() {
        for (text, provider) in [
            ("sqlite3", DbProvider::Sqlite),
            ("SQLite", DbProvider::Sqlite),
            (" postgres ", DbProvider::Postgres),
            ("postgresql", DbProvider::Postgres),
        ] {
            assert_eq!(text.parse::<DbProvider>(), Ok(provider));
        }
        let err = "mysql".parse::<DbProvider>().unwrap_err();
        assert!(
            err.contains("\"mysql\"") && err.contains("sqlite3 or postgres"),
            "{err}"
        );
        assert_eq!(DbProvider::Postgres.to_string(), "postgres");
    }
}
