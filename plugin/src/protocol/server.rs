//! The reading loop: frames in, handler calls and replies out.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWrite};

use super::calls::Calls;
use super::framing::{Frame, FrameReader};
use super::garbage::GarbageRun;
use super::handler::{Call, Handler, Init, Log, Manifest};
use super::messages::{codes, ErrorObject, Incoming, Level, Outgoing, Rejected};
use super::preview::{bounded, preview};
use super::stdio::Input;
use super::writer::Output;

/// How long calls still running at `shutdown` or EOF may take before they
/// are answered with an error.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);

/// How long the last replies may take to be written before we exit anyway
/// (lightningd may have stopped reading).
const FLUSH_GRACE: Duration = Duration::from_millis(1000);

/// Serves lightningd on `input`/`output` with `handler` until the `shutdown`
/// notification or the end of `input`. Bad input is answered or logged,
/// never fatal; only failing to read or write the pipes ends the plugin
/// with an error.
///
/// One loop does all the I/O: write what is queued, then wait for input or
/// for a call finishing elsewhere. Replies go out before more requests are
/// read, which bounds memory when lightningd reads slowly, and costs no
/// task switch on the common path. stdin is read however many calls wait,
/// so `shutdown` and EOF are always seen at once; calls past the cap are
/// refused on the spot instead ([`Calls::run`]). When no task is alive and
/// everything is written, nothing can happen before the next request, so
/// the loop waits for it in [`Input::read_when_idle`] (see `stdio.rs` for
/// why that wait is not tokio's).
pub async fn serve<H, R, W>(handler: H, mut input: R, mut output: W) -> std::io::Result<()>
where
    H: Handler,
    R: Input,
    W: AsyncWrite + Unpin,
{
    let runtime = tokio::runtime::Handle::current();
    let out = Output::new();
    let session = Session::new(handler, out.clone());
    let mut frames = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut spare = Vec::new();
    'read: loop {
        out.write_to(&mut output, &mut spare).await?;
        let idle = runtime.metrics().num_alive_tasks() == 0;
        let read = match idle.then(|| input.read_when_idle(&mut buf)).flatten() {
            Some(read) => Some(read?),
            None => tokio::select! {
                biased;
                read = input.read(&mut buf) => Some(read?),
                () = out.queued() => None,
            },
        };
        match read {
            None => continue,
            Some(0) => {
                session.stdin_closed(&frames);
                break;
            }
            Some(n) => frames.push(&buf[..n]),
        }
        while let Some(frame) = frames.next_frame() {
            if session.handle(frame) == Flow::Shutdown {
                break 'read;
            }
        }
    }
    session.flush_garbage();
    session.calls.settle(SHUTDOWN_GRACE).await;
    match tokio::time::timeout(FLUSH_GRACE, out.write_to(&mut output, &mut spare)).await {
        Ok(written) => written,
        Err(_) => Ok(()), // lightningd is not reading; nothing more to do.
    }
}

/// Whether to keep reading stdin after a message.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Shutdown,
}

/// The protocol state of one plugin run.
struct Session<H: Handler> {
    handler: Arc<H>,
    manifest: Manifest,
    methods: BTreeSet<String>,
    /// Whether `init` succeeded: calls are refused before.
    initialized: Cell<bool>,
    out: Output,
    calls: Calls,
    /// Unanswerable input since the last message served or answered.
    garbage: RefCell<GarbageRun>,
}

impl<H: Handler> Session<H> {
    fn new(handler: H, out: Output) -> Self {
        let manifest = handler.manifest();
        let methods = manifest.rpcmethods.iter().map(|m| m.name.clone()).collect();
        Self {
            handler: Arc::new(handler),
            manifest,
            methods,
            initialized: Cell::new(false),
            calls: Calls::new(out.clone()),
            out,
            garbage: RefCell::default(),
        }
    }

    fn handle(&self, frame: Frame) -> Flow {
        let (rejected, shown, len) = match frame {
            Frame::Object(message) => match Incoming::parse(&message) {
                Ok(incoming) => {
                    self.flush_garbage();
                    return self.dispatch(incoming);
                }
                Err(rejected) => {
                    let len = message.bytes.len() as u64;
                    (rejected, message.bytes, len)
                }
            },
            Frame::Broken {
                bytes,
                reason,
                at,
                id,
            } => {
                let why = format!("{reason} at byte {at}");
                let len = bytes.len() as u64;
                (Rejected::parse_error(id.as_deref(), &why), bytes, len)
            }
            Frame::Oversized {
                head,
                len,
                id,
                limit,
            } => (Rejected::oversized(id.as_deref(), limit), head, len),
            Frame::Garbage(bytes) => {
                let len = bytes.len() as u64;
                self.garbage
                    .borrow_mut()
                    .add(len, &bytes, || "not a JSON object".into());
                return Flow::Continue;
            }
        };
        match rejected {
            Rejected::Answer { id, error } => {
                self.flush_garbage();
                self.out.log(
                    Level::Warn,
                    format!(
                        "answered {} to {}: {}",
                        error.code,
                        preview(&shown),
                        error.message
                    ),
                );
                self.out.send(&Outgoing::Error { id, error });
            }
            Rejected::Drop { reason } => self.garbage.borrow_mut().add(len, &shown, || reason),
        }
        Flow::Continue
    }

    /// Logs the run of unanswerable input that just ended, if any.
    fn flush_garbage(&self) {
        if let Some(line) = self.garbage.borrow_mut().take_summary() {
            self.out.log(Level::Warn, line);
        }
    }

    fn dispatch(&self, message: Incoming) -> Flow {
        match message {
            Incoming::Request { id, method, params } => match method.as_str() {
                "getmanifest" => self.respond(id, super::handler::result(&self.manifest)),
                "init" => self.init(id, &params),
                m if self.methods.contains(m) => self.call(id, method, params),
                other => {
                    let declared: Vec<_> = self.methods.iter().map(|m| format!("'{m}'")).collect();
                    let message = format!(
                        "Unknown method '{other}': this plugin serves {}",
                        declared.join(", ")
                    );
                    self.out
                        .log(Level::Warn, format!("answered -32601: {message}"));
                    self.error(id, codes::METHOD_NOT_FOUND, message);
                }
            },
            Incoming::Notification { method, params } => {
                if method == "shutdown" {
                    // v23.02 sends `{}`, v24.02+ `{"shutdown":{}}`: either way
                    // the method name is all that matters.
                    self.out
                        .log(Level::Debug, "shutdown notification received, exiting");
                    return Flow::Shutdown;
                }
                self.out.log(
                    Level::Debug,
                    format!(
                        "ignoring notification '{method}' with params {}",
                        preview(params.get().as_bytes())
                    ),
                );
            }
        }
        Flow::Continue
    }

    fn init(&self, id: Box<RawValue>, params: &RawValue) {
        let init: Init<H::Options> = match serde_json::from_str(params.get()) {
            Ok(init) => init,
            Err(err) => {
                let message = format!("init params do not fit this plugin: {err}");
                self.out.log(
                    Level::Error,
                    format!("{message}: {}", preview(params.get().as_bytes())),
                );
                return self.error(id, codes::INVALID_PARAMS, message);
            }
        };
        let result = self.handler.init(init, &Log(self.out.clone()));
        if result.is_ok() {
            self.initialized.set(true);
        }
        self.respond(id, result.map(|()| empty_object()));
    }

    fn call(&self, id: Box<RawValue>, method: String, params: Box<RawValue>) {
        if !self.initialized.get() {
            let message = format!("'{method}' was called before init: lightningd never does this");
            self.out.log(Level::Warn, &message);
            return self.error(id, codes::INTERNAL_ERROR, message);
        }
        let data = method.len() + params.get().len();
        let call = Call {
            method,
            params,
            log: Log(self.out.clone()),
        };
        self.calls
            .run(id, data, Arc::clone(&self.handler).call(call));
    }

    fn respond(&self, id: Box<RawValue>, result: Result<Box<RawValue>, super::handler::RpcError>) {
        match result {
            Ok(result) => self.out.send(&Outgoing::Response { id, result }),
            Err(err) => self.out.send(&Outgoing::Error { id, error: err.0 }),
        }
    }

    /// Answers with an error of the protocol's own; its message may quote
    /// what was sent (a method, `init`'s params), so it is cut as a log line
    /// is.
    fn error(&self, id: Box<RawValue>, code: i64, message: String) {
        let error = ErrorObject {
            code,
            message: bounded(message),
            data: None,
        };
        self.out.send(&Outgoing::Error { id, error });
    }

    /// Logs what EOF cut off, if anything.
    fn stdin_closed(&self, frames: &FrameReader) {
        self.flush_garbage();
        if let Some(len) = frames.skipping_oversized() {
            self.out.log(
                Level::Warn,
                format!("stdin closed in the middle of a message too large to keep, after {len} of its bytes"),
            );
        } else if frames.pending().iter().any(|b| !b.is_ascii_whitespace()) {
            self.out.log(
                Level::Warn,
                format!(
                    "stdin closed in the middle of a message: {}",
                    preview(frames.pending())
                ),
            );
        }
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("valid JSON")
}
