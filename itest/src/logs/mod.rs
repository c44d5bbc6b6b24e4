//! Daemons' log files: what to look for and from where (`pattern`),
//! waiting for lines (`cursor`) and quoting their ends in failure reports
//! (`tails`).

pub(crate) mod cursor;
pub(crate) mod pattern;
pub(crate) mod tails;
