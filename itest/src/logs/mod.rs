//! Daemons' log files: waiting for lines (`cursor`) and quoting their ends
//! in failure reports (`tails`).

pub(crate) mod cursor;
pub(crate) mod tails;
