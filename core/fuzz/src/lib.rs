//! Input formats and bodies of the fuzz targets (`targets`), shared with the regression
//! replay in `core/tests/fuzz_regressions.rs`.

/// `tests/fixtures` of the repository: the update target loads golden containers from it
/// and the seed generator builds every corpus from it.
pub const FIXTURES_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

pub mod targets;
