//! RPC replies checked against CLN's JSON schemas, as pyln-testing checks
//! them.
//!
//! pyln-testing loads `doc/schemas` of the CLN tree it runs in and, after
//! every call through a node's RPC, validates the result against the
//! method's response schema; a mismatch raises at the call, so the test
//! fails there. Here the schemas come from a CLN tree given by a path
//! ([`Conf::cln_schemas`](crate::Conf::cln_schemas), default
//! `ITEST_CLN_SCHEMAS`), and a reply that violates its schema fails the
//! call the same way, with an [`ErrorKind::Schema`](crate::ErrorKind::Schema)
//! error naming the node, the method, the schema file and the JSON pointer
//! of each violation. A call, not the teardown: the reply is at hand there,
//! and a test that goes on with a malformed reply fails later for a less
//! clear reason.
//!
//! - `layout`: where a method's reply schema is, in either layout of
//!   `doc/schemas` (v23.08+ and before);
//! - `types`: the type names CLN's schemas use beyond JSON Schema's seven;
//! - this file: compiling each schema once per process, and checking.
//!
//! Requests are not checked (pyln checks those too): lightningd itself
//! refuses parameters it does not know, and a test that sends a malformed
//! request on purpose must be able to. Methods without a schema (plugin
//! methods CLN does not document, `dev-` commands) are not checked.

mod layout;
mod types;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Once, OnceLock};

use jsonschema::{Draft, Validator};
use serde_json::Value;

/// How many violations of one reply an error lists.
const MAX_SHOWN: usize = 5;

/// One way a reply departs from its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Where in the reply, as a JSON pointer (`/num_peers`; empty for the
    /// reply itself).
    pub pointer: String,
    /// Which rule of the schema file, as a JSON pointer into that file
    /// (`/response/properties/num_peers/type`).
    pub schema_pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Why a reply could not be checked, or what it violates.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The reply violates the schema in `file`.
    Violated {
        file: PathBuf,
        violations: Vec<Violation>,
    },
    /// The schema itself could not be read or compiled.
    Unusable(String),
}

/// A method's compiled reply schema, or the absence of one.
enum Entry {
    None,
    Schema {
        file: PathBuf,
        pointer: &'static str,
        validator: Validator,
    },
    Unusable(String),
}

/// Checks `reply` to `method` against the schemas under `given` (a
/// `doc/schemas` directory or a CLN tree holding one). A method without a
/// schema passes.
pub(crate) fn check(given: &Path, method: &str, reply: &Value) -> Result<(), Failure> {
    let entry = compiled(given, method);
    match &*entry {
        Entry::None => Ok(()),
        Entry::Unusable(why) => Err(Failure::Unusable(why.clone())),
        Entry::Schema {
            file,
            pointer,
            validator,
        } => {
            if validator.is_valid(reply) {
                return Ok(());
            }
            let violations: Vec<Violation> = validator
                .iter_errors(reply)
                .take(MAX_SHOWN)
                .map(|e| Violation {
                    pointer: e.instance_path().as_str().to_string(),
                    // Named as in the file, where the keyword is `type`.
                    schema_pointer: format!("{pointer}{}", e.schema_path().as_str())
                        .replace(&format!("/{}", types::KEYWORD), "/type"),
                    message: e.masked().to_string(),
                })
                .collect();
            Err(Failure::Violated {
                file: file.clone(),
                violations,
            })
        }
    }
}

/// The entry for `method` under `given`, compiled the first time any
/// thread of this process asks for it.
fn compiled(given: &Path, method: &str) -> Arc<Entry> {
    type Slot = Arc<OnceLock<Arc<Entry>>>;
    static CACHE: LazyLock<Mutex<HashMap<(PathBuf, String), Slot>>> = LazyLock::new(Mutex::default);
    let slot = {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((given.to_path_buf(), method.to_string()))
            .or_default()
            .clone()
    };
    // Outside the map's lock: compiling one schema does not hold up
    // checks of other methods.
    slot.get_or_init(|| Arc::new(compile(given, method)))
        .clone()
}

fn compile(given: &Path, method: &str) -> Entry {
    let mut found = match layout::find(&layout::schema_dir(given), method) {
        Ok(Some(found)) => found,
        Ok(None) => return Entry::None,
        Err(why) => return Entry::Unusable(why),
    };
    types::rewrite(&mut found.schema);
    let built = jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(false)
        .with_keyword(types::KEYWORD, types::factory)
        .build(&found.schema);
    match built {
        Ok(validator) => Entry::Schema {
            file: found.file,
            pointer: found.pointer,
            validator,
        },
        Err(e) => Entry::Unusable(format!(
            "CLN schema {} does not compile: {e}",
            found.file.display()
        )),
    }
}

/// Whether `given` holds CLN's schemas (a `doc/schemas` directory, or a
/// tree with one); an error saying what is wrong otherwise.
pub(crate) fn check_dir(given: &Path) -> Result<(), String> {
    let dir = layout::schema_dir(given);
    let has_json = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().ends_with(".json"));
    if has_json {
        Ok(())
    } else {
        Err(format!(
            "{} holds no CLN schemas (*.json); give a CLN source tree or its doc/schemas",
            dir.display()
        ))
    }
}

/// Says once per process, on stderr, that replies are not checked.
pub(crate) fn note_off() {
    static NOTED: Once = Once::new();
    NOTED.call_once(|| {
        // The real stderr: libtest's capture would hide eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "itest: RPC replies are not checked against CLN's JSON schemas: set \
             ITEST_CLN_SCHEMAS to the CLN source tree of the lightningd under test \
             (or its doc/schemas), or Conf::with_cln_schemas"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(files: &[(&str, Value)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(tmp.path().join(name), content.to_string()).unwrap();
        }
        tmp
    }

    #[test]
    fn a_reply_is_checked_with_cln_types_and_violations_are_located() {
        let tmp = tree(&[(
            "getinfo.json",
            json!({
                "request": {"required": [], "properties": {}},
                "response": {
                    "required": ["id", "num_peers"],
                    "additionalProperties": false,
                    "properties": {
                        "id": {"type": "pubkey"},
                        "num_peers": {"type": "u32"},
                        "fees_collected_msat": {"type": "msat"}
                    }
                }
            }),
        )]);
        let id = format!("03{}", "11".repeat(32));
        let good = json!({"id": id, "num_peers": 2, "fees_collected_msat": 0});
        check(tmp.path(), "getinfo", &good).unwrap();
        let bad = json!({"id": id, "num_peers": -1, "extra": true});
        let Err(Failure::Violated { file, violations }) = check(tmp.path(), "getinfo", &bad) else {
            panic!("a violation expected");
        };
        assert_eq!(file, tmp.path().join("getinfo.json"));
        let at: Vec<(&str, &str)> = violations
            .iter()
            .map(|v| (v.pointer.as_str(), v.schema_pointer.as_str()))
            .collect();
        assert!(
            at.contains(&("/num_peers", "/response/properties/num_peers/type")),
            "{violations:?}"
        );
        assert!(
            at.contains(&("", "/response/additionalProperties")),
            "{violations:?}"
        );
        // No schema: not checked.
        check(tmp.path(), "myplugin", &json!({"anything": 1})).unwrap();
    }

    #[test]
    fn the_old_layout_is_the_reply_schema_itself() {
        let tmp = tree(&[(
            "listpeers.schema.json",
            json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "required": ["peers"],
                "properties": {"peers": {"type": "array"}}
            }),
        )]);
        check(tmp.path(), "listpeers", &json!({"peers": []})).unwrap();
        let Err(Failure::Violated { violations, .. }) =
            check(tmp.path(), "listpeers", &json!({"peers": {}}))
        else {
            panic!("a violation expected");
        };
        assert_eq!(violations[0].pointer, "/peers");
        assert_eq!(violations[0].schema_pointer, "/properties/peers/type");
    }

    #[test]
    fn each_schema_compiles_once_per_process() {
        let tmp = tree(&[("ping.json", json!({"response": {"type": "object"}}))]);
        let first = compiled(tmp.path(), "ping");
        let again = compiled(tmp.path(), "ping");
        assert!(Arc::ptr_eq(&first, &again));
    }

    #[test]
    fn a_directory_without_schemas_is_refused() {
        let tmp = tree(&[]);
        let err = check_dir(tmp.path()).unwrap_err();
        assert!(err.contains("holds no CLN schemas"), "{err}");
        assert!(check_dir(&tmp.path().join("missing")).is_err());
    }
}
