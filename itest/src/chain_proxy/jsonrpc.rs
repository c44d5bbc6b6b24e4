//! bitcoind's JSON-RPC framing: reading requests, writing replies the way
//! bitcoind does (so bitcoin-cli reacts to a mock as to bitcoind), and an
//! object type that keeps bitcoind's exact number text when edited.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// One parsed request.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub method: String,
    pub params: Value,
    pub id: Value,
    /// `"jsonrpc": "2.0"` was given (bitcoin-cli since Core 28 sends it).
    pub v2: bool,
    /// A 2.0 request without id: bitcoind answers nothing.
    pub notification: bool,
}

impl Request {
    /// `None` when `v` is not a request object with a string method;
    /// such a body is forwarded untouched so bitcoind reports the problem.
    pub fn parse(v: &Value) -> Option<Self> {
        let o = v.as_object()?;
        let method = o.get("method")?.as_str()?.to_string();
        let v2 = o.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
        let params = match o.get("params") {
            None | Some(Value::Null) => json!([]),
            Some(p) => p.clone(),
        };
        Some(Self {
            method,
            params,
            id: o.get("id").cloned().unwrap_or(Value::Null),
            v2,
            notification: v2 && !o.contains_key("id"),
        })
    }

    /// The request with other params, for forwarding.
    pub fn with_params(&self, params: &Value) -> Vec<u8> {
        let mut out = json!({ "method": self.method, "params": params, "id": self.id });
        if self.v2 {
            out["jsonrpc"] = json!("2.0");
        }
        let mut body = out.to_string().into_bytes();
        body.push(b'\n');
        body
    }

    /// A success reply, as bitcoind writes it for this request's version.
    pub fn result_reply(&self, result: &RawValue) -> String {
        let id = self.id.to_string();
        if self.v2 {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":{id}}}",
                result.get()
            )
        } else {
            format!("{{\"result\":{},\"error\":null,\"id\":{id}}}", result.get())
        }
    }

    /// An error reply, as bitcoind writes it for this request's version.
    pub fn error_reply(&self, code: i64, message: &str) -> String {
        let error = json!({ "code": code, "message": message });
        let id = self.id.to_string();
        if self.v2 {
            format!("{{\"jsonrpc\":\"2.0\",\"error\":{error},\"id\":{id}}}")
        } else {
            format!("{{\"result\":null,\"error\":{error},\"id\":{id}}}")
        }
    }

    /// The HTTP status bitcoind gives a single (not batched) error reply:
    /// 200 under JSON-RPC 2.0, else the legacy mapping (400 for an invalid
    /// request, 404 for an unknown method, 500 for everything else).
    pub fn error_status(&self, code: i64) -> u16 {
        match (self.v2, code) {
            (true, _) => 200,
            (false, -32600) => 400,
            (false, -32601) => 404,
            (false, _) => 500,
        }
    }
}

/// The `error.code` of a reply body, if it is an error reply.
pub(super) fn reply_error_code(body: &[u8]) -> Option<i64> {
    let reply: Value = serde_json::from_slice(body).ok()?;
    reply.get("error")?.get("code")?.as_i64()
}

/// A JSON object whose values stay as their original text, in order.
#[derive(Debug, Default)]
pub(super) struct RawObject(Vec<(String, Box<RawValue>)>);

impl RawObject {
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Replaces `key`'s value (all of them, if repeated), or appends it.
    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        let mut found = false;
        for (k, v) in &mut self.0 {
            if k == key {
                *v = value.clone();
                found = true;
            }
        }
        if !found {
            self.0.push((key.to_string(), value));
        }
    }

    pub fn to_json(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v.get()))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_follow_the_requests_version() {
        let v1 = Request::parse(&json!({"method": "m", "id": 1})).unwrap();
        let v2 = Request::parse(&json!({"method": "m", "id": "x", "jsonrpc": "2.0"})).unwrap();
        let r = RawValue::from_string("0.00001000".into()).unwrap();
        assert_eq!(
            v1.result_reply(&r),
            r#"{"result":0.00001000,"error":null,"id":1}"#
        );
        assert_eq!(
            v2.result_reply(&r),
            r#"{"jsonrpc":"2.0","result":0.00001000,"id":"x"}"#
        );
        assert_eq!(
            v1.error_reply(-8, "no"),
            r#"{"result":null,"error":{"code":-8,"message":"no"},"id":1}"#
        );
        assert_eq!(
            (
                v1.error_status(-8),
                v1.error_status(-32601),
                v1.error_status(-32600)
            ),
            (500, 404, 400)
        );
        assert_eq!(v2.error_status(-8), 200);
    }

    #[test]
    fn params_default_to_an_empty_array_and_notifications_are_seen() {
        let r = Request::parse(&json!({"method": "m", "jsonrpc": "2.0"})).unwrap();
        assert_eq!(r.params, json!([]));
        assert!(r.notification);
        assert!(Request::parse(&json!({"method": 3})).is_none());
        assert!(Request::parse(&json!([1])).is_none());
    }

    #[test]
    fn forwarding_with_other_params_keeps_method_id_and_version() {
        let r = Request::parse(&json!({"method": "m", "params": [1], "id": 7, "jsonrpc": "2.0"}))
            .unwrap();
        let body: Value = serde_json::from_slice(&r.with_params(&json!([2]))).unwrap();
        assert_eq!(
            body,
            json!({"method": "m", "params": [2], "id": 7, "jsonrpc": "2.0"})
        );
    }

    #[test]
    fn raw_objects_keep_number_text_and_order() {
        let mut o: RawObject = serde_json::from_str(r#"{"b":1.50,"a":[1e3]}"#).unwrap();
        assert_eq!(o.get("a").unwrap().get(), "[1e3]");
        o.set("c", RawValue::from_string("null".into()).unwrap());
        assert_eq!(o.to_json(), r#"{"b":1.50,"a":[1e3],"c":null}"#);
    }
}
