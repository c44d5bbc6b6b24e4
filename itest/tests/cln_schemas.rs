//! RPC replies checked against CLN's JSON schemas (`Conf::cln_schemas`,
//! `ITEST_CLN_SCHEMAS`), as pyln-testing checks them: real replies pass
//! the real schemas of the release under test, a reply that violates its
//! schema fails the call, and without schemas the harness says so once.

mod support;

use std::process::Command;

use cln_itest::cln_rpc::model::requests::GetinfoRequest;
use cln_itest::{Conf, ErrorKind, Network, NodeConf};
use serde_json::json;

/// The too-strict schemas: `getinfo.json` (v23.08+ layout) wants a
/// `version` no lightningd has, `listfunds.schema.json` (the older layout)
/// at least one output.
fn too_strict() -> std::path::PathBuf {
    support::fixture("cln-schemas-too-strict")
}

cln_itest::needs_cln_schemas! {
/// The replies of a real node fit the schemas of its own release (run
/// with `ITEST_CLN_SCHEMAS` pointing at the tree of the lightningd under
/// test: v26.06's `<method>.json`, or v23.02's `<method>.schema.json`).
#[test]
fn real_replies_fit_the_schemas_of_their_release() {
    let conf = Conf::with_nodes(2);
    let tree = conf.cln_schemas.clone().expect("ITEST_CLN_SCHEMAS is set");
    let net = Network::line_graph_with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    for method in ["getinfo", "listpeers", "listfunds", "listpeerchannels", "listnodes", "listconfigs"] {
        let reply = l1.call(method, json!({})).unwrap_or_else(|e| panic!("{e}"));
        assert!(reply.is_object(), "{method}: {reply}");
    }
    let invoice = l2.invoice(10_000, "schemas").unwrap();
    let paid = l1.pay(&invoice.bolt11).unwrap();
    assert_eq!(paid["status"], json!("complete"));
    l2.call("listinvoices", json!({})).unwrap();
    assert!(!l1.call_typed(GetinfoRequest {}).unwrap().id.to_string().is_empty());
    let pending = l1.spawn_call("listchannels", json!({}));
    assert!(pending.wait().unwrap()["channels"].is_array());
    // The same node against a schema that is too strict fails: the
    // replies above were checked, not skipped.
    l1.update_conf(|c| c.cln_schemas = Some(too_strict())).unwrap();
    let err = l1.call("getinfo", json!({})).unwrap_err();
    assert!(err.schema_violation().is_some(), "{err}");
    assert!(tree.exists());
}
}

cln_itest::needs_lightningd! {
/// A reply that violates its schema fails the call, naming the node, the
/// method, the schema file and where the reply departs from it; methods
/// without a schema are not checked.
#[test]
fn a_reply_that_violates_its_schema_fails_the_call() {
    let conf = Conf::from_nodes([NodeConf::default().with_cln_schemas(too_strict())]);
    let net = Network::with_conf(&conf).unwrap();
    let l1 = net.node(0);

    let err = l1.call("getinfo", json!({})).unwrap_err();
    let ErrorKind::Schema(violation) = err.kind() else {
        panic!("a schema violation expected: {err}");
    };
    assert_eq!(violation.node, "l1");
    assert_eq!(violation.method, "getinfo");
    assert_eq!(violation.schema, too_strict().join("getinfo.json"));
    assert_eq!(violation.violations.len(), 1, "{err}");
    assert_eq!(violation.violations[0].pointer, "/version");
    assert_eq!(
        violation.violations[0].schema_pointer,
        "/response/properties/version/pattern"
    );
    assert_eq!(violation.params, json!({}));
    // The reply is there, as lightningd sent it.
    assert!(violation.reply["version"].is_string(), "{}", violation.reply);
    let text = err.to_string();
    for part in ["l1", "`getinfo`", "getinfo.json", "at /version", "/response/properties/version/pattern"] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }

    // The older layout, on the same node.
    let err = l1.call("listfunds", json!({})).unwrap_err();
    let violation = err.schema_violation().expect("a schema violation");
    assert_eq!(violation.schema, too_strict().join("listfunds.schema.json"));
    assert_eq!(violation.violations[0].pointer, "/outputs");
    assert_eq!(violation.violations[0].schema_pointer, "/properties/outputs/minItems");

    // Typed and background calls take the same path.
    let typed = l1.call_typed(GetinfoRequest {}).unwrap_err();
    assert_eq!(typed.schema_violation().unwrap().method, "getinfo");
    let background = l1.spawn_call("getinfo", json!({})).wait().unwrap_err();
    assert!(background.schema_violation().is_some(), "{background}");

    // No schema for `listpeers` in this tree: its reply passes unchecked.
    assert!(l1.call("listpeers", json!({})).unwrap()["peers"].is_array());
}
}

/// Set in the child copy of this binary that builds networks and prints
/// what the harness says about schemas.
const CHILD_ENV: &str = "ITEST_SCHEMAS_NOTE_CHILD";

/// The line the harness prints when replies go unchecked.
const OFF_NOTE: &str = "itest: RPC replies are not checked against CLN's JSON schemas";

cln_itest::needs_lightningd! {
/// Without schemas, the harness says so once per process, however many
/// nodes and networks it starts; with them, it says nothing.
#[test]
fn without_schemas_the_harness_says_so_once_per_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        // Child role: two networks, three nodes.
        for nodes in [1, 2] {
            let net = Network::with_conf(&Conf::with_nodes(nodes)).unwrap();
            net.node(0).call("getinfo", json!({})).unwrap();
        }
        return;
    }
    let child = |schemas: Option<&std::path::Path>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "without_schemas_the_harness_says_so_once_per_process", "--nocapture"])
            .env(CHILD_ENV, "1")
            .env_remove("ITEST_CLN_SCHEMAS");
        if let Some(dir) = schemas {
            cmd.env("ITEST_CLN_SCHEMAS", dir);
        }
        let out = cmd.output().expect("re-running this test binary");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the child failed:\n{stderr}");
        stderr.matches(OFF_NOTE).count()
    };
    assert_eq!(child(None), 1, "once without schemas");
    // A tree with only a `listfunds` schema: every call above is
    // unchecked, but schemas are on, so nothing is said.
    let quiet = tempfile::tempdir().unwrap();
    std::fs::copy(
        too_strict().join("listfunds.schema.json"),
        quiet.path().join("listfunds.schema.json"),
    )
    .unwrap();
    assert_eq!(child(Some(quiet.path())), 0, "nothing with schemas");
}
}
