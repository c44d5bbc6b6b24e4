//! The `type` names of CLN's JSON schemas.
//!
//! CLN's schemas (`doc/schemas`) say `"type": "u32"`, `"pubkey"`,
//! `"msat"`, ... where standard JSON Schema only knows seven types.
//! pyln-testing teaches its validator those names. The `jsonschema` crate
//! checks a schema against the draft's meta-schema before compiling it,
//! which refuses such a `type`, so [`rewrite`] moves every `type` that
//! names one of CLN's into a keyword of its own, [`KEYWORD`], whose check
//! is here: each name is a predicate on the value, and a list of names
//! accepts a value any of them accepts, as `type` does. The standard seven
//! keep their draft-7 meaning.
//!
//! Only replies are checked, so `msat` and `sat` are what lightningd
//! writes: a non-negative integer, or (releases before v23.05, and
//! `allow-deprecated-apis`) a string such as `"1000msat"`.
//!
//! A name this module does not know (a newer CLN's) accepts every value,
//! and says so once per process on stderr: an unknown name must not fail
//! every call of a method.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

use jsonschema::paths::Location;
use jsonschema::{Keyword, ValidationError};
use regex::Regex;
use serde_json::{Map, Value};

/// The keyword that stands for a `type` naming CLN's types.
pub(super) const KEYWORD: &str = "x-cln-type";

/// The draft-7 type names, which `type` keeps.
const STANDARD: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// Annotations, which validate nothing; CLN writes some in forms the
/// meta-schema refuses (v23.08+ `description`s are lists of lines).
const ANNOTATIONS: [&str; 4] = ["description", "title", "examples", "default"];

/// `schema` with each `type` that names a type of CLN's renamed to
/// [`KEYWORD`], and without annotations, in the schema and every
/// subschema (and nowhere else: a property called `type` keeps its name).
pub(super) fn rewrite(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    map.retain(|keyword, _| !ANNOTATIONS.contains(&keyword.as_str()));
    let names_cln_type = match map.get("type") {
        Some(Value::String(name)) => !STANDARD.contains(&name.as_str()),
        Some(Value::Array(names)) => names
            .iter()
            .any(|n| n.as_str().is_some_and(|n| !STANDARD.contains(&n))),
        _ => false,
    };
    if names_cln_type {
        if let Some(names) = map.remove("type") {
            map.insert(KEYWORD.to_string(), names);
        }
    }
    for (keyword, value) in map.iter_mut() {
        match keyword.as_str() {
            // One subschema.
            "additionalProperties"
            | "additionalItems"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames" => rewrite(value),
            // One subschema or a list of them.
            "items" => match value {
                Value::Array(list) => list.iter_mut().for_each(rewrite),
                other => rewrite(other),
            },
            // Lists of subschemas.
            "allOf" | "anyOf" | "oneOf" => {
                if let Value::Array(list) = value {
                    list.iter_mut().for_each(rewrite);
                }
            }
            // Maps of names to subschemas (a `dependencies` entry may
            // also be a list of names, which `rewrite` leaves alone).
            "properties" | "patternProperties" | "definitions" | "$defs" | "dependencies" => {
                if let Value::Object(subs) = value {
                    subs.values_mut().for_each(rewrite);
                }
            }
            _ => {}
        }
    }
}

/// The [`KEYWORD`] check: what the compiler calls for each of them.
pub(super) fn factory<'a>(
    _parent: &'a Map<String, Value>,
    value: &'a Value,
    _path: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    let names: Vec<&str> = match value {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        return Err(ValidationError::custom(format!(
            "`type` must be a name or a list of names, not {value}"
        )));
    }
    let names = names
        .into_iter()
        .map(|name| {
            let known = TypeName::parse(name);
            if known.is_none() {
                note_unknown(name);
            }
            (name.to_string(), known)
        })
        .collect();
    Ok(Box::new(ClnType { names }))
}

/// Says once per process that values of type `name` go unchecked.
fn note_unknown(name: &str) {
    static NOTED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
    let mut noted = NOTED.lock().unwrap_or_else(|p| p.into_inner());
    if noted.insert(name.to_string()) {
        // The real stderr: libtest's capture would hide eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "itest: CLN schema type `{name}` is unknown to cln-itest; values of it are not checked"
        );
    }
}

/// A `type` keyword: the value must be of one of these (`None`: a name
/// this module does not know, which accepts anything).
struct ClnType {
    names: Vec<(String, Option<TypeName>)>,
}

impl<'i> Keyword<'i> for ClnType {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            return Ok(());
        }
        let names: Vec<&str> = self.names.iter().map(|(n, _)| n.as_str()).collect();
        Err(ValidationError::custom(format!(
            "{} is not of type {}",
            shown(instance),
            names.join(" or ")
        )))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.names
            .iter()
            .any(|(_, t)| t.is_none_or(|t| t.accepts(instance)))
    }
}

/// A value in an error message, cut short.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// The type names of draft 7 and of CLN's schemas (v23.02 to v26.06).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TypeName {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    String,
    Integer,
    /// A string of hex digits.
    Hex,
    /// 32 bytes in hex: `hash`, `secret`, `txid`.
    Hex32,
    /// An unsigned integer of this many bits.
    Unsigned(u32),
    /// A compressed secp256k1 key in hex (`02`/`03` and 32 bytes).
    Pubkey,
    /// A DER signature in hex: at most 72 bytes.
    Signature,
    /// A BIP-340 signature in hex: 64 bytes.
    Bip340Sig,
    /// An amount as lightningd writes it.
    Msat,
    /// An amount in the forms lightningd accepts (`sat` in replies).
    Sat,
    /// [`TypeName::Msat`] or `"all"`.
    MsatOrAll,
    /// [`TypeName::Msat`] or `"any"`.
    MsatOrAny,
    /// [`TypeName::Sat`] or `"all"`.
    SatOrAll,
    /// `<amount><ISO 4217 code>`, e.g. `12.5USD`.
    Currency,
    /// `<block>x<tx>x<output>`.
    ShortChannelId,
    /// A short channel id, then `/0` or `/1`.
    ShortChannelIdDir,
    /// `<txid>:<output>`.
    Outpoint,
    /// A number, a named target or `<n>perkw` / `<n>perkb`.
    Feerate,
    /// An object of addresses to amounts (or `"all"`).
    OutputDesc,
    /// An object of strings.
    StringMap,
    /// An object or an array (a call's `params`).
    JsonObjectOrArray,
    /// A string, a number or null (a JSON-RPC `id`).
    JsonScalar,
    /// A number or a string.
    ProofField,
}

impl TypeName {
    /// The type called `name` in a schema, if this module knows it.
    pub(super) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            "number" => Self::Number,
            "string" => Self::String,
            "integer" => Self::Integer,
            "hex" => Self::Hex,
            "hash" | "secret" | "txid" => Self::Hex32,
            "u64" => Self::Unsigned(64),
            "u32" => Self::Unsigned(32),
            "u16" => Self::Unsigned(16),
            "u8" => Self::Unsigned(8),
            "pubkey" => Self::Pubkey,
            "signature" => Self::Signature,
            "bip340sig" => Self::Bip340Sig,
            "msat" => Self::Msat,
            "sat" => Self::Sat,
            "msat_or_all" => Self::MsatOrAll,
            "msat_or_any" => Self::MsatOrAny,
            "sat_or_all" => Self::SatOrAll,
            "currency" => Self::Currency,
            "short_channel_id" => Self::ShortChannelId,
            "short_channel_id_dir" => Self::ShortChannelIdDir,
            "outpoint" => Self::Outpoint,
            "feerate" => Self::Feerate,
            "outputdesc" => Self::OutputDesc,
            "string_map" => Self::StringMap,
            "json_object_or_array" => Self::JsonObjectOrArray,
            "json_scalar" => Self::JsonScalar,
            "proof_field" => Self::ProofField,
            _ => return None,
        })
    }

    /// Whether `v` is of this type.
    pub(super) fn accepts(self, v: &Value) -> bool {
        match self {
            Self::Null => v.is_null(),
            Self::Boolean => v.is_boolean(),
            Self::Object => v.is_object(),
            Self::Array => v.is_array(),
            Self::Number => v.is_number(),
            Self::String => v.is_string(),
            Self::Integer => is_integer(v),
            Self::Hex => v.as_str().is_some_and(is_hex),
            Self::Hex32 => v.as_str().is_some_and(|s| s.len() == 64 && is_hex(s)),
            Self::Unsigned(bits) => unsigned_fits(v, bits),
            Self::Pubkey => v.as_str().is_some_and(|s| {
                s.len() == 66 && is_hex(s) && (s.starts_with("02") || s.starts_with("03"))
            }),
            Self::Signature => v.as_str().is_some_and(|s| s.len() <= 144 && is_hex(s)),
            Self::Bip340Sig => v.as_str().is_some_and(|s| s.len() == 128 && is_hex(s)),
            Self::Msat => is_msat(v),
            Self::Sat => is_amount(v),
            Self::MsatOrAll => v == "all" || is_msat(v),
            Self::MsatOrAny => v == "any" || is_msat(v),
            Self::SatOrAll => v == "all" || is_amount(v),
            Self::Currency => v.as_str().is_some_and(|s| CURRENCY.is_match(s)),
            Self::ShortChannelId => v.as_str().is_some_and(is_scid),
            Self::ShortChannelIdDir => v.as_str().is_some_and(|s| {
                s.strip_suffix("/0")
                    .or_else(|| s.strip_suffix("/1"))
                    .is_some_and(is_scid)
            }),
            Self::Outpoint => v.as_str().is_some_and(is_outpoint),
            Self::Feerate => is_feerate(v),
            Self::OutputDesc => v
                .as_object()
                .is_some_and(|o| o.values().all(|a| a == "all" || is_amount(a))),
            Self::StringMap => v
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string)),
            Self::JsonObjectOrArray => v.is_object() || v.is_array(),
            Self::JsonScalar => v.is_string() || v.is_number() || v.is_null(),
            Self::ProofField => v.is_number() || v.is_string(),
        }
    }
}

static CURRENCY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d+(\.\d+)?[A-Z]{3}$").expect("a valid regex"));
/// The string forms of an amount lightningd accepts.
static AMOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+(msat|sat)?|\d+(\.\d{1,11})?btc)$").expect("a valid regex"));
static MSAT_STRING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d+msat$").expect("a valid regex"));

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Draft 7's integer: a number with no fractional part (`1.0` included).
fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn unsigned_fits(v: &Value, bits: u32) -> bool {
    if !is_integer(v) {
        return false;
    }
    match v.as_u64() {
        Some(n) => bits >= 64 || n < 1u64 << bits,
        // A negative integer, or one past u64 written as a float.
        None => false,
    }
}

/// An amount in a reply: a non-negative integer, or the older `"<n>msat"`.
fn is_msat(v: &Value) -> bool {
    v.as_u64().is_some() || v.as_str().is_some_and(|s| MSAT_STRING.is_match(s))
}

/// An amount in any form lightningd reads: msat as an integer, or a string
/// in msat, sat or btc.
fn is_amount(v: &Value) -> bool {
    v.as_u64().is_some() || v.as_str().is_some_and(|s| AMOUNT.is_match(s))
}

/// BOLT 7's short channel id: a 3-byte block, a 3-byte index and a 2-byte
/// output, written `AxBxC`.
fn is_scid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('x').collect();
    let [block, tx, out] = parts[..] else {
        return false;
    };
    let fits = |p: &str, bits: u32| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u64>().is_ok_and(|n| n < 1 << bits)
    };
    fits(block, 24) && fits(tx, 24) && fits(out, 16)
}

fn is_outpoint(s: &str) -> bool {
    let Some((txid, out)) = s.split_once(':') else {
        return false;
    };
    txid.len() == 64
        && is_hex(txid)
        && !out.is_empty()
        && out.bytes().all(|b| b.is_ascii_digit())
        && out.parse::<u64>().is_ok_and(|n| n < 1 << 32)
}

fn is_feerate(v: &Value) -> bool {
    if is_integer(v) {
        return true;
    }
    let Some(s) = v.as_str() else {
        return false;
    };
    const NAMED: [&str; 12] = [
        "urgent",
        "normal",
        "slow",
        "minimum",
        "opening",
        "mutual_close",
        "unilateral_close",
        "delayed_to_us",
        "htlc_resolution",
        "penalty",
        "min_acceptable",
        "max_acceptable",
    ];
    if NAMED.contains(&s) {
        return true;
    }
    s.strip_suffix("perkw")
        .or_else(|| s.strip_suffix("perkb"))
        .is_some_and(|n| n.parse::<i64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepts(name: &str, v: Value) -> bool {
        TypeName::parse(name).unwrap().accepts(&v)
    }

    #[test]
    fn integers_are_bounded_by_their_width() {
        assert!(accepts("u8", json!(255)));
        assert!(!accepts("u8", json!(256)));
        assert!(accepts("u32", json!(4_294_967_295u64)));
        assert!(!accepts("u32", json!(4_294_967_296u64)));
        assert!(accepts("u64", json!(u64::MAX)));
        assert!(!accepts("u64", json!(-1)));
        assert!(!accepts("u16", json!("1")));
        assert!(accepts("integer", json!(3.0)));
        assert!(!accepts("integer", json!(3.5)));
    }

    #[test]
    fn keys_hashes_and_signatures_are_hex_of_their_size() {
        let key = format!("02{}", "ab".repeat(32));
        assert!(accepts("pubkey", json!(key)));
        assert!(!accepts("pubkey", json!(format!("04{}", "ab".repeat(32)))));
        assert!(!accepts("pubkey", json!(&key[..64])));
        assert!(accepts("txid", json!("00".repeat(32))));
        assert!(!accepts("hash", json!("zz".repeat(32))));
        assert!(accepts("hex", json!("")));
        assert!(accepts("bip340sig", json!("a".repeat(128))));
        assert!(!accepts("signature", json!("a".repeat(146))));
    }

    #[test]
    fn amounts_channel_ids_and_outpoints() {
        assert!(accepts("msat", json!(0)));
        assert!(accepts("msat", json!("1000msat")));
        assert!(!accepts("msat", json!("1sat")));
        assert!(!accepts("msat", json!(-5)));
        assert!(accepts("sat", json!("0.1btc")));
        assert!(accepts("msat_or_all", json!("all")));
        assert!(accepts("short_channel_id", json!("103x1x0")));
        assert!(!accepts("short_channel_id", json!("103x1")));
        assert!(!accepts("short_channel_id", json!("16777216x1x0")));
        assert!(accepts("short_channel_id_dir", json!("103x1x0/1")));
        assert!(!accepts("short_channel_id_dir", json!("103x1x0/2")));
        let txid = "11".repeat(32);
        assert!(accepts("outpoint", json!(format!("{txid}:4294967295"))));
        assert!(!accepts("outpoint", json!(format!("{txid}:4294967296"))));
        assert!(accepts("feerate", json!("253perkw")));
        assert!(accepts("feerate", json!("slow")));
        assert!(!accepts("feerate", json!("fast")));
        assert!(accepts("currency", json!("12.5USD")));
    }

    #[test]
    fn cln_types_are_moved_and_annotations_dropped_only_in_subschemas() {
        let mut schema = json!({
            "type": "object",
            "description": ["lines", "of text"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string", "title": "a property named title"},
                "id": {"type": "pubkey"},
                "list": {"type": "array", "items": {"type": ["u8", "null"]}}
            },
            "allOf": [{"if": {"properties": {"a": {"type": "msat"}}}}]
        });
        rewrite(&mut schema);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "id": {"x-cln-type": "pubkey"},
                    "list": {"type": "array", "items": {"x-cln-type": ["u8", "null"]}}
                },
                "allOf": [{"if": {"properties": {"a": {"x-cln-type": "msat"}}}}]
            })
        );
    }

    #[test]
    fn a_list_accepts_what_any_name_accepts_and_unknown_names_accept_all() {
        let either = ClnType {
            names: vec![
                ("u8".into(), TypeName::parse("u8")),
                ("null".into(), TypeName::parse("null")),
            ],
        };
        assert!(either.is_valid(&json!(null)));
        assert!(either.is_valid(&json!(7)));
        assert!(!either.is_valid(&json!("7")));
        let seven = json!("7");
        let err = either.validate(&seven).unwrap_err();
        assert!(
            err.to_string().contains("is not of type u8 or null"),
            "{err}"
        );
        let unknown = ClnType {
            names: vec![("u128".into(), TypeName::parse("u128"))],
        };
        assert!(unknown.is_valid(&json!("anything")));
    }
}
