//! Cross-crate integration tests and fixture helpers.
