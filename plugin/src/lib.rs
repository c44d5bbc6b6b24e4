//! `myplugin`: a dynamic Core Lightning plugin that speaks the plugin
//! protocol by hand, to show how it works.
//!
//! lightningd starts the plugin with pipes on its stdin and stdout and talks
//! JSON-RPC 2.0 over them. The modules follow the path of a message:
//!
//! - [`framing`]: cut stdin's bytes into JSON objects;
//! - [`messages`]: what the objects mean (requests, notifications) and what
//!   we send back (responses, errors, log lines);
//! - [`plugin`]: the plugin's logic (`getmanifest`, `init`, `myplugin`,
//!   `shutdown`), with [`manifest`] for what we declare;
//! - [`node_rpc`]: calls back into lightningd over its unix socket;
//! - [`output`]: the single writer that owns stdout, and [`stdio`]: the
//!   pipes themselves.

pub mod framing;
pub mod manifest;
pub mod messages;
pub mod node_rpc;
pub mod output;
pub mod plugin;
pub mod stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::framing::{Frame, FrameReader};
use crate::messages::{Incoming, Level};
use crate::output::Output;
use crate::plugin::{Flow, Plugin};

/// How much of a bad message goes into the log.
const PREVIEW_BYTES: usize = 200;

/// Serves lightningd on `input`/`output` until the `shutdown` notification
/// or the end of `input`. Bad input is logged and skipped, never fatal; only
/// failing to read or write the pipes ends the plugin with an error.
pub async fn serve<R, W>(mut input: R, output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, writer) = Output::spawn(output);
    let plugin = Plugin::new(out.clone());
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            // lightningd closed our stdin: it is gone or stopping us.
            break;
        }
        reader.push(&buf[..n]);
        while let Some(frame) = reader.next_frame() {
            if handle_frame(&plugin, &out, frame) == Flow::Shutdown {
                out.flush().await;
                return Ok(());
            }
        }
    }
    out.flush().await;
    drop((out, plugin));
    if writer.is_finished() {
        writer.await.expect("writer task does not panic")?;
    }
    Ok(())
}

fn handle_frame(plugin: &std::sync::Arc<Plugin>, out: &Output, frame: Frame) -> Flow {
    match frame {
        Frame::Object(bytes) => match Incoming::parse(&bytes) {
            Ok(message) => plugin.dispatch(message),
            Err(err) => {
                out.log(
                    Level::Warn,
                    format!("dropped a malformed message ({err}): {}", preview(&bytes)),
                );
                Flow::Continue
            }
        },
        Frame::Garbage(bytes) => {
            out.log(
                Level::Warn,
                format!(
                    "dropped {} bytes that are not a JSON object: {}",
                    bytes.len(),
                    preview(&bytes)
                ),
            );
            Flow::Continue
        }
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(PREVIEW_BYTES)]);
    let more = if bytes.len() > PREVIEW_BYTES {
        "..."
    } else {
        ""
    };
    format!("{text:?}{more}")
}
