//! The daemon's run-time machinery as a library, so integration tests can drive it:
//! the monitor thread, the manager's array bookkeeping, and their fd and buffer types.
pub mod runtime;
