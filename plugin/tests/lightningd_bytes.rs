//! The third adversarial round (issue 21), over the real pipes, with the
//! bytes lightningd really forwards: a client's request with only the
//! value of its first `id` member swapped for lightningd's id
//! (lightningd/plugin.c, `json_stream_forward_change_id`), after
//! lightningd's tokenizer accepted it. Each test here failed against the
//! plugin as it was before issue 21.

mod support;

use rstest::rstest;
use support::{call, expect_served, warm_plugin, Behaviour, StandIn};

/// Case 1: params that lightningd accepts but that are not JSON, written
/// before the id as pyln-client writes them, got no reply at all; the
/// caller waited forever. Now: -32700, to lightningd's id.
#[rstest]
#[case::minus_infinity("[-Infinity]")]
#[case::two_dots("[1.2.3]")]
#[case::leading_zero("[01]")]
#[case::nan("[nan]")]
#[case::no_comma("[1 2]")]
#[case::double_comma("[1,,2]")]
#[case::trailing_comma("[1,]")]
#[case::trailing_comma_in_object(r#"{"a":1,}"#)]
#[case::raw_tab("[\"a\tb\"]")]
#[case::raw_control("[\"a\u{1}b\"]")]
#[tokio::test]
async fn params_lightningd_accepts_get_one_parse_error(#[case] params: &str) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    let id = "cli:myplugin#7/cln:myplugin#12";
    plugin
        .write(format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"myplugin\",\"params\":{params},\"id\":\"{id}\"}}\n\n{}",
            call("after")
        ))
        .await;
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], id, "{reply}");
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    expect_served(&mut plugin, "after").await;
}

/// Case 2: objects inside a message were served as messages of their own:
/// `lightning-cli myplugin 1.2.3 '{"id":"X"}'` got a reply to `X`, another
/// caller's id, and a whole request nested in params was served. Now the
/// message gets one reply, to its own id, and nothing inside it any.
#[rstest]
#[case::an_id_alone(r#"[1.2.3,{"id":"victim"}]"#)]
#[case::a_whole_request(
    r#"[1.2.3,{"jsonrpc":"2.0","id":"victim","method":"myplugin","params":["victim"]}]"#
)]
#[case::inside_a_primitive(r#"[t{"id":"victim"]"#)]
#[case::after_a_raw_newline_in_a_string(
    "[\"a\n\n{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":\\\"victim\\\",\\\"method\\\":\\\"myplugin\\\",\\\"params\\\":[]}\"]"
)]
#[tokio::test]
async fn nothing_inside_a_message_is_a_message(#[case] params: &str) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    plugin
        .write(format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"myplugin\",\"params\":{params},\"id\":\"attacker\"}}\n\n{}",
            call("after")
        ))
        .await;
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], "attacker", "{reply}");
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    expect_served(&mut plugin, "after").await;
}

/// Case 3: lightningd takes the first member whose raw key is `id`, and
/// waits for a reply to it; the plugin dropped such a message as ambiguous
/// (and counted `"\u0069d"` as a second id).
#[rstest]
#[case::duplicate(
    r#"{"jsonrpc":"2.0","id":"first","method":"myplugin","params":["first"],"id":"second"}"#
)]
#[case::escaped_key(
    r#"{"jsonrpc":"2.0","id":"first","\u0069d":"other","method":"myplugin","params":["first"]}"#
)]
#[tokio::test]
async fn the_first_raw_id_is_answered(#[case] message: &str) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    plugin
        .write(format!("{message}\n\n{}", call("after")))
        .await;
    expect_served(&mut plugin, "first").await;
    expect_served(&mut plugin, "after").await;
}

/// Case 4: an oversized message whose complete id was longer than 64 KiB
/// got no reply (the client chooses the id's length: lightningd's id
/// starts with the client's).
#[tokio::test]
async fn an_oversized_message_with_a_long_id_is_answered() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    let id = format!("{}/cln:myplugin#3", "c".repeat(100 << 10));
    let mut huge =
        format!("{{\"jsonrpc\":\"2.0\",\"id\":\"{id}\",\"method\":\"myplugin\",\"params\":[\"");
    huge.push_str(&"x".repeat(65 << 20));
    huge.push_str("\"]}\n\n");
    plugin.write_in_background(huge + &call("after"));
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], id.as_str(), "another reply came first");
    assert_eq!(reply["error"]["code"], -32600);
    expect_served(&mut plugin, "after").await;
    plugin.join_writer().await;
}
