//! `cargo xtask install`. (Being written; see the issue.)

use crate::rig;

pub fn cmd(_args: &[String]) -> rig::Result<()> {
    Err("cargo xtask install is not written yet".into())
}
