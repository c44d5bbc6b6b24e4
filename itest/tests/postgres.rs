//! Nodes on PostgreSQL (pyln-testing's `TEST_DB_PROVIDER=postgres`): a
//! real server started by the network, a database per node, and clear
//! errors where this machine or the lightningd cannot do it.

use std::path::Path;
use std::process::Command;

use cln_itest::{Backend, Conf, DbProvider, Lightningd, Network, NodeConf};
use serde_json::json;

/// `sql` on `dsn` through `psql` (next to `initdb`, else on PATH),
/// unaligned, one value per line: a client that is not the harness's.
fn psql(bin_dir: &Path, dsn: &str, sql: &str) -> String {
    let next_to_initdb = bin_dir.join("psql");
    let program = if next_to_initdb.is_file() {
        next_to_initdb
    } else {
        "psql".into()
    };
    let out = Command::new(program)
        .args([dsn, "--no-psqlrc", "-At", "-c", sql])
        .output()
        .expect("running psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The wallet lightningd says it uses (`listconfigs`, either release
/// line's shape).
fn wallet(node: &cln_itest::Node) -> String {
    let reply = node
        .call("listconfigs", json!({"config": "wallet"}))
        .unwrap();
    let value = match reply["configs"]["wallet"]["value_str"].as_str() {
        Some(modern) => modern,
        None => reply["wallet"].as_str().unwrap_or_default(),
    };
    value.to_string()
}

cln_itest::needs_postgres! {
/// A PostgreSQL node's wallet is on the network's server, not in a SQLite
/// file: its funds are rows there, another client sees them, and a restart
/// finds them again. Inside a caller's tokio runtime, as any test may be.
#[tokio::test]
async fn a_postgres_node_keeps_its_wallet_on_the_server() {
    let net = Network::with_conf(&Conf::from_nodes([
        NodeConf::default().with_db_provider(DbProvider::Postgres)
    ]))
    .unwrap();
    let l1 = net.node(0);
    assert_eq!(l1.db_provider(), DbProvider::Postgres);
    net.fund_wallet(l1, 123_456).unwrap();
    let wallet = wallet(l1);
    assert!(wallet.starts_with("postgres://") && wallet.ends_with("/l1"), "{wallet}");
    let pg = net.postgres().expect("the network started PostgreSQL");
    assert_eq!(pg.databases().unwrap(), ["l1"]);
    assert!(pg.data_dir().starts_with(net.dir()), "{pg:?}");

    let rows = l1.db_query("SELECT value, status FROM outputs").unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["value"], json!(123_456));

    let dsn = l1.postgres_dsn().unwrap();
    assert!(dsn.ends_with("/l1"), "{dsn}");
    assert_eq!(psql(pg.bin_dir(), &dsn, "SELECT value FROM outputs"), "123456");

    l1.restart().unwrap();
    let funds = l1.call("listfunds", json!({})).unwrap();
    let output = cln_itest::only_one(&funds["outputs"]).unwrap();
    assert_eq!(output["amount_msat"], json!(123_456_000));
}
}

cln_itest::needs_postgres! {
/// Each node chooses: a channel between a PostgreSQL node and a SQLite
/// one, its peer and channel rows on the server, and the SQLite node's
/// wallet in its file, which `db_query` names instead of reading.
#[test]
fn a_channel_between_a_postgres_node_and_a_sqlite_node() {
    let mut conf = Conf::with_nodes(2).with_db_provider(DbProvider::Postgres);
    conf.nodes[1] = NodeConf::default().with_db_provider(DbProvider::Sqlite);
    let net = Network::line_graph_with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    l1.pay_peer(l2, 10_000_000).unwrap();

    let peers = l1.db_query("SELECT node_id FROM peers").unwrap();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert_eq!(peers[0]["node_id"], json!(l2.id().unwrap()), "bytea reads as hex");
    let channels = l1.db_query("SELECT COUNT(*) AS n FROM channels").unwrap();
    assert_eq!(channels[0]["n"], json!(1));

    assert_eq!(net.postgres().unwrap().databases().unwrap(), ["l1"]);
    assert!(wallet(l1).starts_with("postgres://"), "{}", wallet(l1));
    // lightningd lists a default wallet (SQLite in its directory) as none.
    assert!(!wallet(l2).starts_with("postgres://"), "{}", wallet(l2));
    assert_eq!(l2.postgres_dsn(), None);
    let err = l2.db_query("SELECT 1").unwrap_err().to_string();
    assert!(err.contains("SQLite") && err.contains("lightningd.sqlite3"), "{err}");

    l1.restart().unwrap();
    let channel = l1.channel_with(l2).unwrap().expect("the channel survives the restart");
    assert_eq!(channel["state"], json!("CHANNELD_NORMAL"), "{channel}");
}
}

cln_itest::needs_postgres! {
/// A PostgreSQL directory that lacks the programs is named, with the fix.
#[test]
fn a_bin_dir_without_postgres_is_named() {
    let empty = tempfile::tempdir().unwrap();
    let mut conf = Conf::from_nodes([NodeConf::default()]).with_db_provider(DbProvider::Postgres);
    conf.postgres_bin_dir = Some(empty.path().to_path_buf());
    // A failed start keeps the network's files: there, not in the temp dir.
    let root = tempfile::tempdir().unwrap();
    conf.tmp_root = Some(root.path().to_path_buf());
    let err = Network::with_conf(&conf).unwrap_err().to_string();
    assert!(
        err.contains("Conf::postgres_bin_dir")
            && err.contains(&empty.path().display().to_string())
            && err.contains("initdb"),
        "{err}"
    );
}
}

cln_itest::needs_native_daemons! {
/// A lightningd built without the PostgreSQL driver (here: a wrapper that
/// answers a `postgres://` wallet as such a build does) is refused before
/// anything starts, saying so and how to get one that has it.
#[test]
fn a_lightningd_without_the_driver_is_refused_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let mut native = Conf::default();
    native.lightningd_backend = Backend::Native;
    let real = Lightningd::of(&native).unwrap().program().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("lightningd");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do case $a in --wallet=postgres://*) echo \"Unable to find DB driver for ${{a#--wallet=}}\" >&2; exit 1;; esac; done\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut conf = Conf::from_nodes([NodeConf::default()
        .with_lightningd(&fake)
        .with_db_provider(DbProvider::Postgres)]);
    // The wrapper is a file of this machine, whatever the backend.
    conf.bitcoind_backend = Backend::Native;
    conf.lightningd_backend = Backend::Native;
    conf.tmp_root = Some(dir.path().to_path_buf());
    let err = Network::with_conf(&conf).unwrap_err().to_string();
    assert!(
        err.contains(&fake.display().to_string())
            && err.contains("built without PostgreSQL support")
            && err.contains("libpq"),
        "{err}"
    );
}
}
