//! `cargo xtask audit`. (Being written; see the issue.)

use crate::rig;

pub fn cmd(_args: &[String]) -> rig::Result<()> {
    Err("cargo xtask audit is not written yet".into())
}
