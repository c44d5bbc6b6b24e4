//! The images the docker backend runs by default.

/// The image bitcoind runs from unless `ITEST_BITCOIND_IMAGE` or the
/// configuration says otherwise: a Bitcoin Core release as published on
/// Docker Hub. Any image with `bitcoind` on its PATH works (the harness
/// sets the entrypoint), e.g. one built by `scripts/images.sh bitcoind`.
pub const DEFAULT_BITCOIND_IMAGE: &str = "bitcoin/bitcoin:29.1";

/// The image lightningd runs from by default: Core Lightning's own release
/// image. Any image with `lightningd` and `bitcoin-cli` on its PATH works,
/// e.g. one built by `scripts/images.sh lightningd PREFIX`.
pub const DEFAULT_LIGHTNINGD_IMAGE: &str = "elementsproject/lightningd:v26.06.6";

/// The variable naming bitcoind's image.
pub const BITCOIND_IMAGE_VAR: &str = "ITEST_BITCOIND_IMAGE";
/// The variable naming lightningd's image.
pub const LIGHTNINGD_IMAGE_VAR: &str = "ITEST_LIGHTNINGD_IMAGE";

/// The image `var` names, else `default`.
pub fn from_env(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}
