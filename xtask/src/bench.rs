//! `cargo xtask bench`. (Being written; see the issue.)

use crate::rig;

pub fn cmd(_args: &[String]) -> rig::Result<()> {
    Err("cargo xtask bench is not written yet".into())
}
