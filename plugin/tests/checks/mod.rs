//! What the framing properties look at in a run's frames, shared by
//! `tests/framing_props.rs` and the `fuzz` target (through `#[path]`), so
//! both check exactly the same thing.

use myplugin::protocol::framing::Frame;
use myplugin::protocol::messages::{Incoming, Rejected};

/// The bytes of every object that came out, valid or not.
pub fn objects(frames: &[Frame]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Object(message) => Some(message.bytes.as_slice()),
            _ => None,
        })
        .collect()
}

/// The id each frame is answered with (served or rejected), in order, as
/// the server decides it.
pub fn answered(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|frame| {
            let rejected = match frame {
                Frame::Object(message) => match Incoming::parse(message) {
                    Ok(Incoming::Request { id, .. }) => return Some(id.get().to_owned()),
                    Ok(Incoming::Notification { .. }) => return None,
                    Err(rejected) => rejected,
                },
                Frame::Broken { id, .. } => Rejected::parse_error(id.as_deref(), "check"),
                Frame::Oversized { id, limit, .. } => Rejected::oversized(id.as_deref(), *limit),
                Frame::Garbage(_) => return None,
            };
            match rejected {
                Rejected::Answer { id, .. } => Some(id.get().to_owned()),
                Rejected::Drop { .. } => None,
            }
        })
        .collect()
}
