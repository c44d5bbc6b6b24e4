//! Fixed feerates, so fee-dependent assertions are deterministic.
//!
//! Regtest fee estimation has no data, so bitcoind answers
//! `estimatesmartfee` with "Insufficient data" and lightningd falls back
//! to its own floors. Like pyln-testing, the proxy answers it instead.
//!
//! What lightningd's bcli plugin asks (CLN v23.02.2 ... v26.06.x, read
//! from `plugins/bcli.c`): `estimatesmartfee 2 CONSERVATIVE`, `6
//! ECONOMICAL`, `12 ECONOMICAL`, `100 ECONOMICAL` for every fee update,
//! and since v23.05 first `getmempoolinfo`, whose `mempoolminfee` and
//! `minrelaytxfee` give its floor (the larger of the two). Nothing else it
//! asks is fee-related. Every (target, mode) pair is answered here, not
//! just those four, so a future bcli stays deterministic too.

use serde_json::value::RawValue;
use serde_json::Value;

use super::jsonrpc::RawObject;

/// bitcoind's largest `estimatesmartfee` target; beyond it bitcoind
/// answers an error, and so (by forwarding) does the proxy.
const MAX_TARGET: u64 = 1008;

/// The feerates the proxy answers, in **sat/kw** (satoshi per 1000
/// weight units, lightningd's unit). bitcoind's unit is BTC per kvB
/// (1000 virtual bytes = 4000 weight units), so each is sent as
/// `perkw * 4` sat/kvB, e.g. 15000 sat/kw = 60000 sat/kvB =
/// `0.00060000` BTC/kvB.
///
/// The defaults are pyln-testing's (15000, 11000, 7500, 3750 sat/kw for
/// targets 2, 6, 12, 100), so expectations ported from upstream tests
/// hold; the floor is bitcoind's own default relay fee (1000 sat/kvB),
/// fixed so a Knots or Core with other defaults gives the same numbers.
///
/// | bcli asks                         | default answer (`feerate`, BTC/kvB) | field |
/// |-----------------------------------|-------------------------------------|-------|
/// | `estimatesmartfee 2 CONSERVATIVE` | 0.00060000 (15000 sat/kw)           | `target_2` |
/// | `estimatesmartfee 6 ECONOMICAL`   | 0.00044000 (11000 sat/kw)           | `target_6` |
/// | `estimatesmartfee 12 ECONOMICAL`  | 0.00030000 (7500 sat/kw)            | `target_12` |
/// | `estimatesmartfee 100 ECONOMICAL` | 0.00015000 (3750 sat/kw)            | `target_100` |
/// | `getmempoolinfo` `mempoolminfee`, `minrelaytxfee` | 0.00001000 (250 sat/kw) | `floor` |
///
/// Any other target gets the rate of the first level at or above it
/// (1-2 → `target_2`, 3-6 → `target_6`, 7-12 → `target_12`, 13-1008 →
/// `target_100`), whatever the mode. Invalid params (no target, a target
/// outside 1..=1008, an unknown mode) are forwarded, so bitcoind's own
/// error comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feerates {
    /// sat/kw for targets 1-2 (bcli: `2 CONSERVATIVE`).
    pub target_2: u32,
    /// sat/kw for targets 3-6 (bcli: `6 ECONOMICAL`).
    pub target_6: u32,
    /// sat/kw for targets 7-12 (bcli: `12 ECONOMICAL`).
    pub target_12: u32,
    /// sat/kw for targets 13-1008 (bcli: `100 ECONOMICAL`).
    pub target_100: u32,
    /// sat/kw given as both `mempoolminfee` and `minrelaytxfee` in
    /// `getmempoolinfo` (its other fields are bitcoind's).
    pub floor: u32,
}

impl Default for Feerates {
    fn default() -> Self {
        Self::per_kw(15_000, 11_000, 7_500, 3_750)
    }
}

impl Feerates {
    /// The default floor: 250 sat/kw = 1000 sat/kvB, bitcoind's default
    /// `-minrelaytxfee`.
    pub const DEFAULT_FLOOR: u32 = 250;

    /// The four levels in sat/kw (pyln-testing's `set_feerates` order),
    /// with [`Feerates::DEFAULT_FLOOR`].
    pub fn per_kw(target_2: u32, target_6: u32, target_12: u32, target_100: u32) -> Self {
        Self {
            target_2,
            target_6,
            target_12,
            target_100,
            floor: Self::DEFAULT_FLOOR,
        }
    }

    /// One rate (sat/kw) for every target.
    pub fn uniform(perkw: u32) -> Self {
        Self::per_kw(perkw, perkw, perkw, perkw)
    }

    /// The same levels with another floor (sat/kw).
    pub fn with_floor(self, perkw: u32) -> Self {
        Self {
            floor: perkw,
            ..self
        }
    }

    /// The rate (sat/kw) answered for `blocks`.
    pub fn per_kw_for_target(&self, blocks: u64) -> u32 {
        match blocks {
            0..=2 => self.target_2,
            3..=6 => self.target_6,
            7..=12 => self.target_12,
            _ => self.target_100,
        }
    }

    /// `estimatesmartfee`'s result for `params`, or `None` when bitcoind
    /// would reject them (then the call is forwarded).
    pub(super) fn estimatesmartfee(&self, params: &Value) -> Option<Box<RawValue>> {
        let (target, mode) = match params {
            Value::Array(a) if a.len() <= 2 => (a.first()?, a.get(1)),
            Value::Object(o) => (o.get("conf_target")?, o.get("estimate_mode")),
            _ => return None,
        };
        let target = target.as_u64().filter(|t| (1..=MAX_TARGET).contains(t))?;
        match mode {
            None | Some(Value::Null) => {}
            Some(Value::String(m))
                if ["unset", "economical", "conservative"].contains(&m.to_lowercase().as_str()) => {
            }
            Some(_) => return None,
        }
        let rate = btc_per_kvb(self.per_kw_for_target(target));
        RawValue::from_string(format!("{{\"feerate\":{rate},\"blocks\":{target}}}")).ok()
    }

    /// bitcoind's `getmempoolinfo` result with the two fee fields set to
    /// the floor; `None` when the result is not an object.
    pub(super) fn patch_mempoolinfo(&self, result: &RawValue) -> Option<Box<RawValue>> {
        let mut info: RawObject = serde_json::from_str(result.get()).ok()?;
        let floor = RawValue::from_string(btc_per_kvb(self.floor)).ok()?;
        for key in ["mempoolminfee", "minrelaytxfee"] {
            info.set(key, floor.clone());
        }
        RawValue::from_string(info.to_json()).ok()
    }
}

/// sat/kw as bitcoind's BTC/kvB amount with 8 decimals, as bitcoind
/// writes amounts (bcli parses them as exact decimals).
fn btc_per_kvb(perkw: u32) -> String {
    let sat_per_kvb = u64::from(perkw) * 4;
    format!(
        "{}.{:08}",
        sat_per_kvb / 100_000_000,
        sat_per_kvb % 100_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn estimate(f: &Feerates, params: Value) -> Option<String> {
        f.estimatesmartfee(&params).map(|r| r.get().to_string())
    }

    #[test]
    fn the_defaults_answer_bclis_four_calls_like_pyln() {
        let f = Feerates::default();
        let cases = [
            (json!([2, "CONSERVATIVE"]), "0.00060000", 2),
            (json!([6, "ECONOMICAL"]), "0.00044000", 6),
            (json!([12, "ECONOMICAL"]), "0.00030000", 12),
            (json!([100, "ECONOMICAL"]), "0.00015000", 100),
        ];
        for (params, rate, blocks) in cases {
            assert_eq!(
                estimate(&f, params).unwrap(),
                format!("{{\"feerate\":{rate},\"blocks\":{blocks}}}")
            );
        }
    }

    #[test]
    fn other_targets_and_modes_get_the_next_level_up() {
        let f = Feerates::per_kw(4, 3, 2, 1);
        for (target, perkw) in [(1, 4), (3, 3), (7, 2), (13, 1), (1008, 1)] {
            for mode in [json!(null), json!("economical"), json!("UNSET")] {
                let got = estimate(&f, json!([target, mode])).unwrap();
                assert!(got.contains(&btc_per_kvb(perkw)), "{target} {mode}: {got}");
            }
        }
        assert!(estimate(&f, json!({"conf_target": 5}))
            .unwrap()
            .contains("0.00000012"));
    }

    #[test]
    fn what_bitcoind_would_reject_is_left_to_bitcoind() {
        let f = Feerates::default();
        for params in [
            json!([]),
            json!([0]),
            json!([1009]),
            json!(["2"]),
            json!([2, "FAST"]),
            json!([2, "ECONOMICAL", 3]),
        ] {
            assert_eq!(estimate(&f, params.clone()), None, "{params}");
        }
    }

    #[test]
    fn mempoolinfo_keeps_bitcoinds_fields_and_order_but_fixes_the_fees() {
        let f = Feerates::default().with_floor(1_000);
        let real = RawValue::from_string(
            r#"{"loaded":true,"total_fee":0.00000000,"mempoolminfee":0.00001000,"minrelaytxfee":0.00001000,"x":[]}"#.into(),
        )
        .unwrap();
        assert_eq!(
            f.patch_mempoolinfo(&real).unwrap().get(),
            r#"{"loaded":true,"total_fee":0.00000000,"mempoolminfee":0.00004000,"minrelaytxfee":0.00004000,"x":[]}"#
        );
    }

    #[test]
    fn amounts_have_eight_decimals() {
        assert_eq!(btc_per_kvb(250), "0.00001000");
        assert_eq!(btc_per_kvb(u32::MAX), "171.79869180");
    }
}
