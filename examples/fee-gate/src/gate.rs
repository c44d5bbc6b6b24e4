//! The decision fee-gate makes, apart from the plugin plumbing so that it
//! can be unit-tested.

use serde_json::{json, Value};

/// What to answer lightningd's `openchannel` hook.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let the channel open.
    Accept,
    /// Refuse it, telling the opener why.
    Reject {
        /// The feerate the opener proposed.
        feerate_perkw: u64,
        /// The hook reply.
        reply: Value,
    },
}

/// The opener's proposed commitment feerate, `openchannel.feerate_per_kw`
/// (a number in every release since v0.7).
pub fn proposed_feerate(payload: &Value) -> Option<u64> {
    payload["openchannel"]["feerate_per_kw"].as_u64()
}

/// Accept unless the opener's feerate is above `max_perkw`.
pub fn verdict(payload: &Value, max_perkw: Option<u64>) -> Verdict {
    match (proposed_feerate(payload), max_perkw) {
        (Some(feerate), Some(max)) if feerate > max => Verdict::Reject {
            feerate_perkw: feerate,
            reply: json!({
                "result": "reject",
                "error_message": format!(
                    "fee-gate: feerate {feerate} perkw is above this node's limit of {max} perkw"
                ),
            }),
        },
        _ => Verdict::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(feerate: u64) -> Value {
        json!({"openchannel": {"id": "02ab", "feerate_per_kw": feerate}})
    }

    #[test]
    fn rejects_only_above_the_limit() {
        assert_eq!(verdict(&offer(7500), None), Verdict::Accept);
        assert_eq!(verdict(&offer(7500), Some(7500)), Verdict::Accept);
        match verdict(&offer(7501), Some(7500)) {
            Verdict::Reject {
                feerate_perkw,
                reply,
            } => {
                assert_eq!(feerate_perkw, 7501);
                assert_eq!(reply["result"], json!("reject"));
                let message = reply["error_message"].as_str().unwrap();
                assert!(
                    message.contains("7501") && message.contains("7500"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            verdict(&json!({"openchannel": {}}), Some(1)),
            Verdict::Accept
        );
    }
}
