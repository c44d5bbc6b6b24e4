//! Small helpers for lightningd's JSON replies.

use serde_json::Value;

use crate::error::{Error, Result};

/// The one element of the array `value` (pyln-testing's `only_one`):
/// `only_one(&reply["channels"])?`. Fails, quoting the value, when it is
/// not an array of exactly one element, so a test that expected one
/// channel, peer or payment says what it found instead.
pub fn only_one(value: &Value) -> Result<&Value> {
    match value.as_array().map(Vec::as_slice) {
        Some([one]) => Ok(one),
        Some(many) => Err(Error::msg(format!(
            "expected exactly one element, found {}: {value}",
            many.len()
        ))),
        None => Err(Error::msg(format!(
            "expected an array of one element, found {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_element_or_an_error_quoting_what_was_there() {
        assert_eq!(only_one(&json!([{"a": 1}])).unwrap(), &json!({"a": 1}));
        let two = only_one(&json!([1, 2])).unwrap_err().to_string();
        assert!(two.contains("found 2") && two.contains("[1,2]"), "{two}");
        let none = only_one(&json!([])).unwrap_err().to_string();
        assert!(none.contains("found 0"), "{none}");
        let object = only_one(&json!({"x": 1})).unwrap_err().to_string();
        assert!(object.contains("an array"), "{object}");
    }
}
