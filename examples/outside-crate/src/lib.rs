//! Nothing to build: this crate exists for its tests, which use `itest` the
//! way a plugin author's crate would (see `tests/` and `plugins/hello.py`).
