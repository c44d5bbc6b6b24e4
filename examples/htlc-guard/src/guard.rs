//! The plugin's decisions as pure functions of lightningd's JSON, so they
//! are unit-tested without a node.

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// BOLT 4 `incorrect_or_unknown_payment_details` (PERM|15): the final
/// node refuses the payment; the payer stops at once.
const INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: u16 = 0x400f;
/// BOLT 4 `permanent_channel_failure` (PERM|8), for HTLCs we would forward.
const PERMANENT_CHANNEL_FAILURE: u16 = 0x4008;

/// What the `htlc_accepted` hook answers.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Let lightningd handle the HTLC as usual.
    Continue,
    /// Fail it with `reply` (the hook's answer).
    Fail {
        /// The payment's amount that was over the limit.
        payment_msat: u64,
        /// The hook's answer.
        reply: Value,
    },
}

/// Fails an HTLC of a payment above `max_msat`; accepts all if `None`.
///
/// The payment's amount is the onion's `total_msat` on the final hop, so
/// a payment split into parts (`pay` splits larger payments) is judged as
/// a whole; elsewhere it is the HTLC's amount.
///
/// A final-hop HTLC fails with `incorrect_or_unknown_payment_details`,
/// which BOLT 4 requires to carry the HTLC amount and the current block
/// height (`cltv_expiry - cltv_expiry_relative` in the hook's payload). An
/// HTLC to forward (its onion names a next channel) fails with
/// `permanent_channel_failure`.
pub fn verdict(payload: &Value, max_msat: Option<i64>) -> Verdict {
    let htlc = &payload["htlc"];
    let amount_msat = msat(&htlc["amount_msat"]).unwrap_or(0);
    let payment_msat = msat(&payload["onion"]["total_msat"]).unwrap_or(amount_msat);
    let Some(max) = max_msat else {
        return Verdict::Continue;
    };
    if i128::from(payment_msat) <= i128::from(max) {
        return Verdict::Continue;
    }
    let forwarding = payload["onion"].get("short_channel_id").is_some();
    let failure_message = if forwarding {
        format!("{PERMANENT_CHANNEL_FAILURE:04x}")
    } else {
        let expiry = htlc["cltv_expiry"].as_i64().unwrap_or(0);
        let relative = htlc["cltv_expiry_relative"].as_i64().unwrap_or(0);
        let height = u32::try_from(expiry - relative).unwrap_or(0);
        format!("{INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS:04x}{amount_msat:016x}{height:08x}")
    };
    Verdict::Fail {
        payment_msat,
        reply: json!({"result": "fail", "failure_message": failure_message}),
    }
}

/// The label of the invoice an `invoice_payment` notification reports.
pub fn paid_label(payload: &Value) -> Result<String> {
    payload["invoice_payment"]["label"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("invoice_payment without a label: {payload}"))
}

/// An amount as lightningd writes it: a number of msat, or (before v23.05)
/// a string like `"5000msat"`.
pub fn msat(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str()?.strip_suffix("msat")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_hop(amount: Value) -> Value {
        json!({
            "onion": {"payload": "", "type": "tlv", "forward_msat": 5000},
            "htlc": {"amount_msat": amount, "cltv_expiry": 130, "cltv_expiry_relative": 20},
        })
    }

    #[test]
    fn no_limit_accepts_everything() {
        assert_eq!(
            verdict(&final_hop(json!(u64::MAX)), None),
            Verdict::Continue
        );
    }

    #[test]
    fn at_the_limit_passes_above_fails_with_amount_and_height() {
        assert_eq!(
            verdict(&final_hop(json!(5000)), Some(5000)),
            Verdict::Continue
        );
        let Verdict::Fail {
            payment_msat,
            reply,
        } = verdict(&final_hop(json!(5001)), Some(5000))
        else {
            panic!("5001 > 5000 must fail");
        };
        assert_eq!(payment_msat, 5001);
        // 400f, amount 5001 as u64, height 130 - 20 = 110 as u32.
        assert_eq!(
            reply,
            json!({"result": "fail", "failure_message": "400f00000000000013890000006e"})
        );
    }

    #[test]
    fn a_part_of_a_payment_is_judged_by_the_payment_total() {
        let mut part = final_hop(json!(3000));
        part["onion"]["total_msat"] = json!(9000);
        let Verdict::Fail {
            payment_msat,
            reply,
        } = verdict(&part, Some(5000))
        else {
            panic!("a 9000 msat payment is above 5000, whatever its parts");
        };
        assert_eq!(payment_msat, 9000);
        // The failure still names this HTLC's amount (3000 = 0xbb8).
        assert_eq!(
            reply["failure_message"],
            json!("400f0000000000000bb80000006e")
        );
        part["onion"]["total_msat"] = json!("4000msat");
        assert_eq!(verdict(&part, Some(5000)), Verdict::Continue);
    }

    #[test]
    fn forwards_fail_without_payment_details() {
        let mut payload = final_hop(json!(9000));
        payload["onion"]["short_channel_id"] = json!("103x1x0");
        let Verdict::Fail { reply, .. } = verdict(&payload, Some(1)) else {
            panic!("must fail");
        };
        assert_eq!(reply["failure_message"], json!("4008"));
    }

    #[test]
    fn amounts_in_both_formats() {
        assert_eq!(msat(&json!(42)), Some(42));
        assert_eq!(msat(&json!("42msat")), Some(42));
        assert_eq!(msat(&json!("42")), None);
        let old_format = verdict(&final_hop(json!("6000msat")), Some(5000));
        assert!(matches!(
            old_format,
            Verdict::Fail {
                payment_msat: 6000,
                ..
            }
        ));
    }

    #[test]
    fn the_paid_label_is_read_or_the_payload_named() {
        let paid = json!({"invoice_payment": {"label": "inv-1", "msat": "5000msat"}});
        assert_eq!(paid_label(&paid).unwrap(), "inv-1");
        let err = paid_label(&json!({"other": 1})).unwrap_err();
        assert!(err.to_string().contains("without a label"), "{err}");
    }
}
