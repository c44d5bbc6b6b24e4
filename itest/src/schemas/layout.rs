//! Where a method's reply schema is in a CLN tree's `doc/schemas`.
//!
//! Two layouts, both read as pyln-testing of the same release reads them:
//! - v23.08 and later: `<method>.json`, one file with the method's
//!   `request` and `response` (and docs); the reply schema is its
//!   `response` member.
//! - up to v23.05: `<method>.schema.json` is the reply schema itself,
//!   beside `<method>.request.json`.
//!
//! A method with neither file has no schema: its replies go unchecked.
//! That covers plugin methods CLN does not document, the `dev-` commands
//! and anything newer than the tree.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A method's reply schema, as found in a tree.
#[derive(Debug)]
pub(super) struct Found {
    /// The file it came from.
    pub file: PathBuf,
    /// Where in that file it is, as a JSON pointer (`/response` or empty),
    /// so that a violation names the spot in the file.
    pub pointer: &'static str,
    /// The schema.
    pub schema: Value,
}

/// The directory of schemas `given` names: `doc/schemas` itself, or a CLN
/// source tree holding it.
pub(super) fn schema_dir(given: &Path) -> PathBuf {
    let inside = given.join("doc").join("schemas");
    if inside.is_dir() {
        inside
    } else {
        given.to_path_buf()
    }
}

/// The reply schema of `method` in `dir`; `Ok(None)` when it has none, an
/// error naming the file when one is there but unreadable.
pub(super) fn find(dir: &Path, method: &str) -> Result<Option<Found>, String> {
    // A method name is never a path: no schema for `../x` or `a/b`.
    if method.is_empty() || method.contains(['/', '\\']) || method.starts_with('.') {
        return Ok(None);
    }
    let combined = dir.join(format!("{method}.json"));
    if combined.is_file() {
        let mut whole = read(&combined)?;
        // A request-only file (none so far) has nothing to check a reply
        // against.
        return Ok(whole
            .get_mut("response")
            .map(Value::take)
            .map(|schema| Found {
                file: combined,
                pointer: "/response",
                schema,
            }));
    }
    let reply = dir.join(format!("{method}.schema.json"));
    if reply.is_file() {
        let schema = read(&reply)?;
        return Ok(Some(Found {
            file: reply,
            pointer: "",
            schema,
        }));
    }
    Ok(None)
}

fn read(file: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("reading CLN schema {}: {e}", file.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("CLN schema {} is not JSON: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_layouts_and_a_tree_root_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("doc").join("schemas");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(schema_dir(tmp.path()), dir);
        assert_eq!(schema_dir(&dir), dir);
        std::fs::write(
            dir.join("getinfo.json"),
            json!({"request": {}, "response": {"required": ["id"]}}).to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.join("listpeers.schema.json"),
            json!({"required": ["peers"]}).to_string(),
        )
        .unwrap();
        std::fs::write(dir.join("listpeers.request.json"), "{}").unwrap();
        let v26 = find(&dir, "getinfo").unwrap().unwrap();
        assert_eq!(
            (v26.pointer, &v26.schema),
            ("/response", &json!({"required": ["id"]}))
        );
        let v23 = find(&dir, "listpeers").unwrap().unwrap();
        assert_eq!(
            (v23.pointer, v23.file.file_name().unwrap()),
            ("", "listpeers.schema.json".as_ref())
        );
        assert!(find(&dir, "myplugin-method").unwrap().is_none());
        assert!(find(&dir, "../doc/schemas/getinfo").unwrap().is_none());
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        let err = find(&dir, "broken").unwrap_err();
        assert!(err.contains("broken.json is not JSON"), "{err}");
    }
}
