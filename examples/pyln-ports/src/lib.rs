//! Nothing to build: this crate exists for its tests (`tests/`), ports of
//! upstream pyln-testing tests, and their plugins (`plugins/`).
