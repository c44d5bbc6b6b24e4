//! A minimal blocking JSON-RPC client for lightningd's unix socket.
//!
//! The timed calls go through this, not through `lightning-cli` (process
//! creation would dominate) nor through itest's client (its per-call tokio
//! `block_on` adds overhead the floor should not carry). One request in
//! flight per connection; replies are cut from the stream by parsing, not by
//! looking for separators.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
    tag: String,
}

impl Client {
    pub fn connect(path: &Path, tag: &str) -> Result<Self> {
        let stream = UnixStream::connect(path)
            .with_context(|| format!("connecting to {}", path.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            next_id: 0,
            tag: tag.to_string(),
        })
    }

    /// Sends one request and returns `result`, or fails with lightningd's
    /// error object.
    pub fn call(&mut self, method: &str, params: &Value) -> Result<Value> {
        self.next_id += 1;
        let id = format!("bench:{}#{}", self.tag, self.next_id);
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut bytes = serde_json::to_vec(&req)?;
        bytes.extend_from_slice(b"\n\n");
        self.stream.write_all(&bytes)?;
        let reply = self.read_one()?;
        if reply["id"] != json!(id) {
            bail!("reply id {} does not match request id {id}", reply["id"]);
        }
        if let Some(err) = reply.get("error") {
            bail!("{method} failed: {err}");
        }
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }

    fn read_one(&mut self) -> Result<Value> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let start = self.buf.iter().position(|b| !b.is_ascii_whitespace());
            if let Some(start) = start {
                let mut it =
                    serde_json::Deserializer::from_slice(&self.buf[start..]).into_iter::<Value>();
                match it.next() {
                    Some(Ok(v)) => {
                        let end = start + it.byte_offset();
                        self.buf.drain(..end);
                        return Ok(v);
                    }
                    Some(Err(e)) if e.is_eof() => {}
                    Some(Err(e)) => bail!("bad JSON from lightningd: {e}"),
                    None => {}
                }
            } else {
                self.buf.clear();
            }
            let n = self
                .stream
                .read(&mut chunk)
                .context("reading from lightningd")?;
            if n == 0 {
                bail!("lightningd closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
