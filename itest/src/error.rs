//! The one error type of the public API.
//!
//! Every public function returns [`Result<T>`](Result), whose error is an
//! [`Error`]: what went wrong, as an [`ErrorKind`] a test can match on,
//! plus the steps that led there (outermost first in the text). The kinds
//! keep what lightningd sent exactly as sent: an [`RpcError`] carries its
//! code, message and data untouched, so a test can compare them verbatim.
//!
//! The text (`Display`) says what was tried, what happened and, where the
//! harness knows, what to do about it. `Debug` prints the same text, so a
//! failing `.unwrap()` or `.expect()` shows it with its line breaks (use
//! `{:#?}` for the structure).
//!
//! It is an ordinary `std::error::Error + Send + Sync + 'static`, so `?`
//! works in tests returning `anyhow::Result` or `Box<dyn Error>`.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::daemon::boundary::ExitStatus;
pub use crate::schemas::Violation;

/// `Result<T, cln_itest::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why something the harness was asked to do failed; see the module docs.
///
/// ```
/// use cln_itest::{Error, ErrorKind};
///
/// fn explain(err: &Error) -> String {
///     match err.kind() {
///         ErrorKind::Rpc(rpc) => format!("lightningd said {} {}", rpc.code, rpc.message),
///         ErrorKind::Start(start) => format!("{} did not start: {}", start.node, start.reason),
///         other => format!("{other:?}"),
///     }
/// }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    /// What the harness was doing, innermost first.
    context: Vec<String>,
    /// What explains it (a node's state and log tail), shown after it.
    notes: Vec<String>,
}

/// What went wrong, for tests that match on it. New kinds may be added.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// lightningd answered a call with an error.
    Rpc(RpcError),
    /// A call got no answer: no socket, the connection broke, or the reply
    /// could not be read.
    NoReply(NoReply),
    /// Something did not happen within its time limit.
    Timeout(Timeout),
    /// A node did not start.
    Start(StartError),
    /// A node's lightningd exited by itself (not cleanly) while the harness
    /// needed it.
    Died(Died),
    /// lightningd's reply violates the method's CLN JSON schema
    /// ([`Conf::cln_schemas`](crate::Conf::cln_schemas)).
    Schema(SchemaViolation),
    /// Anything else (bad input, files, bitcoind, the docker engine): the
    /// message says what, the source (if any) why.
    Other(Other),
}

/// An error reply from lightningd, exactly as it sent it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RpcError {
    /// The node that answered (`l1`, ...).
    pub node: String,
    /// The method called.
    pub method: String,
    /// The parameters sent.
    pub params: Value,
    /// lightningd's JSON-RPC error code, e.g. `-32602`.
    pub code: i32,
    /// lightningd's message, unmodified.
    pub message: String,
    /// lightningd's `data` member, unmodified, if it sent one.
    pub data: Option<Value>,
}

impl RpcError {
    /// `(code, message)`, convenient in `assert_eq!`.
    pub fn code_message(&self) -> (i32, &str) {
        (self.code, &self.message)
    }
}

/// A call that got no answer from lightningd.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NoReply {
    /// The node called.
    pub node: String,
    /// The method called.
    pub method: String,
    /// What happened (from the connection), e.g. `connecting to
    /// .../lightning-rpc: No such file or directory`.
    pub reason: String,
    /// The node's state when the call failed, for people (e.g. `l1 is
    /// stopped (exit status: 0)`).
    pub state: String,
    /// What to do about it, if the harness knows.
    pub hint: String,
}

/// Something that did not happen in time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeout {
    /// What was awaited, e.g. "a reply to `waitblockheight` from l1".
    pub what: String,
    /// The limit that passed.
    pub limit: Duration,
    /// The last thing seen while waiting, if anything.
    pub last: Option<String>,
    /// Where the limit comes from and how to change it.
    pub hint: String,
}

/// A node that did not come up: why, how it exited, and what it printed.
/// A test that expects a start to fail asserts on this.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartError {
    /// The node's name (`l1`, ...).
    pub node: String,
    /// What went wrong (e.g. "exited early with exit status: 1").
    pub reason: String,
    /// How lightningd ended: by itself, or killed by the harness after the
    /// readiness limit. `None` if it never ran (the launch itself failed).
    pub status: Option<ExitStatus>,
    /// What lightningd wrote on stderr during this start.
    pub stderr: String,
    /// The last lines of its log, stderr and stdout, labelled.
    pub log_tail: String,
}

/// A node's lightningd that exited by itself while the harness needed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Died {
    /// The node's name.
    pub node: String,
    /// How it exited.
    pub status: ExitStatus,
    /// What the harness was doing, e.g. "`getinfo`".
    pub during: String,
    /// The last lines of its log, stderr and stdout, labelled.
    pub log_tail: String,
}

/// A reply that violates the method's JSON schema in CLN's `doc/schemas`
/// ([`Conf::cln_schemas`](crate::Conf::cln_schemas)), as pyln-testing's
/// schema check would fail it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SchemaViolation {
    /// The node that answered.
    pub node: String,
    /// The method called.
    pub method: String,
    /// The parameters sent.
    pub params: Value,
    /// The schema file the reply was checked against.
    pub schema: PathBuf,
    /// The release of the node's lightningd (a tree of another release
    /// describes other replies).
    pub lightningd: String,
    /// What is wrong, where (the first few).
    pub violations: Vec<Violation>,
    /// The reply, as lightningd sent it.
    pub reply: Value,
}

/// Any other failure: a message and, when there is one, its cause.
#[derive(Debug)]
#[non_exhaustive]
pub struct Other {
    /// What failed, e.g. "creating /tmp/itest-x/l1".
    pub message: String,
    /// The underlying error.
    pub source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                context: Vec::new(),
                notes: Vec::new(),
            }),
        }
    }

    /// An error with just a message (for your own helpers, e.g. inside a
    /// [`wait_until`](crate::wait_until) check).
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Other(Other {
            message: message.to_string(),
            source: None,
        }))
    }

    /// `message`, caused by `source`.
    pub fn with_source(
        message: impl fmt::Display,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self::new(ErrorKind::Other(Other {
            message: message.to_string(),
            source: Some(source.into()),
        }))
    }

    /// Adds what was being done when this error happened; shown before it.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.inner.context.push(context.to_string());
        self
    }

    /// Adds what explains this error (a node's state, a log tail); shown
    /// after it, on its own lines.
    pub fn note(mut self, note: impl fmt::Display) -> Self {
        self.inner.notes.push(note.to_string());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// What went wrong, owned.
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// lightningd's error reply, if that is what this is.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self.kind() {
            ErrorKind::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// lightningd's error code, if lightningd answered with an error.
    pub fn rpc_code(&self) -> Option<i32> {
        self.rpc().map(|e| e.code)
    }

    /// `(code, message)` of lightningd's error reply, if that is what this
    /// is: `assert_eq!(err.rpc_code_message(), Some((-32601, "Unknown command 'x'")))`.
    pub fn rpc_code_message(&self) -> Option<(i32, &str)> {
        self.rpc().map(RpcError::code_message)
    }

    /// lightningd's error message, if lightningd answered with an error.
    pub fn rpc_message(&self) -> Option<&str> {
        self.rpc().map(|e| e.message.as_str())
    }

    /// lightningd's error `data`, if lightningd answered with an error
    /// that had some.
    pub fn rpc_data(&self) -> Option<&Value> {
        self.rpc().and_then(|e| e.data.as_ref())
    }

    /// The failed start, if that is what this is.
    pub fn start_error(&self) -> Option<&StartError> {
        match self.kind() {
            ErrorKind::Start(e) => Some(e),
            _ => None,
        }
    }

    /// The node that died, if that is what this is.
    pub fn died(&self) -> Option<&Died> {
        match self.kind() {
            ErrorKind::Died(e) => Some(e),
            _ => None,
        }
    }

    /// The reply and what it violates, if a reply failed its CLN schema.
    pub fn schema_violation(&self) -> Option<&SchemaViolation> {
        match self.kind() {
            ErrorKind::Schema(e) => Some(e),
            _ => None,
        }
    }

    /// Whether a time limit passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind(), ErrorKind::Timeout(_))
    }

    /// Whether a call got no answer (see [`ErrorKind::NoReply`]).
    pub fn is_no_reply(&self) -> bool {
        matches!(self.kind(), ErrorKind::NoReply(_))
    }

    /// The node this error is about, when it is about one.
    pub fn node(&self) -> Option<&str> {
        match self.kind() {
            ErrorKind::Rpc(e) => Some(&e.node),
            ErrorKind::NoReply(e) => Some(&e.node),
            ErrorKind::Start(e) => Some(&e.node),
            ErrorKind::Died(e) => Some(&e.node),
            ErrorKind::Schema(e) => Some(&e.node),
            ErrorKind::Timeout(_) | ErrorKind::Other(_) => None,
        }
    }

    pub(crate) fn rpc_reply(e: RpcError) -> Self {
        Self::new(ErrorKind::Rpc(e))
    }

    pub(crate) fn no_reply(e: NoReply) -> Self {
        Self::new(ErrorKind::NoReply(e))
    }

    /// A wait that took longer than `limit`; `hint` says where the limit
    /// comes from and how to change it.
    pub(crate) fn timeout(
        what: impl Into<String>,
        limit: Duration,
        last: Option<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(ErrorKind::Timeout(Timeout {
            what: what.into(),
            limit,
            last: last.filter(|l| !l.is_empty()),
            hint: hint.into(),
        }))
    }

    pub(crate) fn start(e: StartError) -> Self {
        Self::new(ErrorKind::Start(e))
    }

    pub(crate) fn died_node(e: Died) -> Self {
        Self::new(ErrorKind::Died(e))
    }

    pub(crate) fn schema(e: SchemaViolation) -> Self {
        Self::new(ErrorKind::Schema(e))
    }

    /// An error from the crate-private layers that use `anyhow`.
    pub(crate) fn internal(e: anyhow::Error) -> Self {
        Self::msg(format!("{e:#}"))
    }
}

/// Shortens what a message quotes of a call's parameters.
fn shown_params(params: &Value) -> String {
    const LIMIT: usize = 300;
    let text = params.to_string();
    if text.len() <= LIMIT {
        return text;
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Rpc(e) => {
                write!(
                    f,
                    "{}: `{}` {} failed: lightningd error {}: {}",
                    e.node,
                    e.method,
                    shown_params(&e.params),
                    e.code,
                    e.message
                )?;
                if let Some(data) = &e.data {
                    write!(f, " (data: {data})")?;
                }
                Ok(())
            }
            ErrorKind::NoReply(e) => {
                write!(
                    f,
                    "{}: `{}` got no reply: {} ({}",
                    e.node, e.method, e.reason, e.state
                )?;
                if !e.hint.is_empty() {
                    write!(f, "; {}", e.hint)?;
                }
                f.write_str(")")
            }
            ErrorKind::Timeout(e) => {
                write!(
                    f,
                    "timed out after {}s waiting for {}",
                    e.limit.as_secs_f64(),
                    e.what
                )?;
                if let Some(last) = &e.last {
                    write!(f, " (last state: {last})")?;
                }
                if !e.hint.is_empty() {
                    write!(f, " ({})", e.hint)?;
                }
                Ok(())
            }
            ErrorKind::Start(e) => {
                write!(f, "{} did not start: {}", e.node, e.reason)?;
                if !e.stderr.trim().is_empty() {
                    write!(f, "\n--- its stderr ---\n{}", e.stderr.trim_end())?;
                }
                write!(
                    f,
                    "\n{}\n(a start that should fail: assert on Error::start_error())",
                    e.log_tail
                )
            }
            ErrorKind::Died(e) => write!(
                f,
                "{} DIED ({}) during {}; if that is expected, wait for it with Node::wait_exit and allow it with NodeConf::may_fail\n{}",
                e.node, e.status, e.during, e.log_tail
            ),
            ErrorKind::Schema(e) => {
                write!(
                    f,
                    "{}: the reply to `{}` {} violates CLN's schema {} (lightningd {}):",
                    e.node,
                    e.method,
                    shown_params(&e.params),
                    e.schema.display(),
                    e.lightningd
                )?;
                for v in &e.violations {
                    let at = if v.pointer.is_empty() { "the reply" } else { &v.pointer };
                    write!(f, "\n  at {at} (schema {}): {}", v.schema_pointer, v.message)?;
                }
                write!(
                    f,
                    "\n  reply: {}\n(the schemas come from Conf::cln_schemas, ITEST_CLN_SCHEMAS by \
                     default: a tree of another release than the node's describes other replies)",
                    shown_params(&e.reply)
                )
            }
            ErrorKind::Other(e) => {
                f.write_str(&e.message)?;
                let mut source = e.source.as_deref().map(|s| s as &(dyn StdError + 'static));
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for context in self.inner.context.iter().rev() {
            write!(f, "{context}: ")?;
        }
        write!(f, "{}", self.inner.kind)?;
        for note in &self.inner.notes {
            write!(f, "\n{note}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_struct("Error")
                .field("kind", &self.inner.kind)
                .field("context", &self.inner.context)
                .field("notes", &self.inner.notes)
                .finish()
        } else {
            fmt::Display::fmt(self, f)
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.kind {
            // Already part of the text; exposed for error reporters that
            // walk the chain.
            ErrorKind::Other(Other {
                source: Some(s), ..
            }) => Some(s.as_ref()),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::with_source("I/O error", e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::with_source("JSON error", e)
    }
}

/// Context on crate-internal results, as `anyhow::Context` gave it.
pub(crate) trait Context<T> {
    /// Adds `context` to the error.
    fn context(self, context: impl fmt::Display) -> Result<T>;
    /// Adds the context `f` returns to the error (computed only then).
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| wrap(e, context))
    }

    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| wrap(e, f()))
    }
}

/// An error of ours gets the context added; any other becomes the source
/// of an [`ErrorKind::Other`] with the context as its message.
fn wrap<E: StdError + Send + Sync + 'static>(e: E, context: impl fmt::Display) -> Error {
    let boxed: Box<dyn StdError + Send + Sync + 'static> = Box::new(e);
    match boxed.downcast::<Error>() {
        Ok(ours) => ours.context(context),
        Err(other) => Error::with_source(context, other),
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(f()))
    }
}

/// `anyhow`-based crate-private layers (the daemon backends) into ours.
pub(crate) trait FromInternal<T> {
    /// Converts the error.
    fn internal(self) -> Result<T>;
}

impl<T> FromInternal<T> for anyhow::Result<T> {
    fn internal(self) -> Result<T> {
        self.map_err(Error::internal)
    }
}

/// `bail!` for [`Error::msg`].
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::msg(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// `ensure!` for [`Error::msg`].
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::error::bail!($($arg)*);
        }
    };
}
pub(crate) use ensure;

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc() -> Error {
        Error::rpc_reply(RpcError {
            node: "l1".into(),
            method: "plugin".into(),
            params: serde_json::json!({"subcommand": "start"}),
            code: -32602,
            message: "plugin: not found".into(),
            data: Some(serde_json::json!({"x": 1})),
        })
    }

    #[test]
    fn rpc_errors_keep_what_lightningd_sent_through_context() {
        let err = rpc().context("starting my plugin");
        assert_eq!(err.rpc_code(), Some(-32602));
        assert_eq!(err.rpc_message(), Some("plugin: not found"));
        assert_eq!(err.rpc_data(), Some(&serde_json::json!({"x": 1})));
        assert_eq!(err.node(), Some("l1"));
        assert_eq!(
            err.to_string(),
            "starting my plugin: l1: `plugin` {\"subcommand\":\"start\"} failed: \
             lightningd error -32602: plugin: not found (data: {\"x\":1})"
        );
        // Debug is the same text, so `expect` shows it readably.
        assert_eq!(format!("{err:?}"), err.to_string());
    }

    #[test]
    fn works_with_question_mark_in_anyhow_and_boxed_results() {
        fn anyhow_test() -> anyhow::Result<()> {
            Err(rpc())?;
            Ok(())
        }
        fn boxed_test() -> std::result::Result<(), Box<dyn StdError>> {
            Err(rpc())?;
            Ok(())
        }
        let a = anyhow_test().unwrap_err();
        assert_eq!(a.downcast_ref::<Error>().unwrap().rpc_code(), Some(-32602));
        let b = boxed_test().unwrap_err();
        assert_eq!(b.downcast_ref::<Error>().unwrap().rpc_code(), Some(-32602));
    }

    #[test]
    fn context_on_our_errors_keeps_their_kind_and_foreign_errors_become_sources() {
        let ours: std::result::Result<(), Error> = Err(rpc());
        let err = ours.context("outer").unwrap_err();
        assert_eq!(err.rpc_code(), Some(-32602));
        assert!(err.to_string().starts_with("outer: l1: "), "{err}");

        let io: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        let err = io.context("reading /x").unwrap_err();
        assert_eq!(err.to_string(), "reading /x: gone");
        assert_eq!(err.rpc_code(), None);
        assert!(err.source().is_some());
    }

    #[test]
    fn timeouts_say_what_and_how_to_raise_the_limit() {
        let err = Error::timeout(
            "a reply",
            Duration::from_secs(60),
            Some("none".into()),
            "raise it",
        );
        assert!(err.is_timeout());
        assert_eq!(
            err.to_string(),
            "timed out after 60s waiting for a reply (last state: none) (raise it)"
        );
    }
}
