//! `cargo xtask install --destdir DIR [--prefix /usr] [--mdadm 4.2|4.3] [--binary PATH]`:
//! lays out the static mdmon (built by `cargo xtask dist` unless `--binary` names one),
//! the systemd unit, the initramfs-tools hook and scripts, the dracut module and the man
//! page under DIR the way a distribution package would (see `mdmon_initramfs`, which also
//! feeds the tests and the rig the same files).

use crate::rig::{self, Workspace};
use mdmon_initramfs::{Install, MdadmGeneration};
use std::path::{Path, PathBuf};

const USAGE: &str =
    "usage: cargo xtask install --destdir DIR [--prefix /usr] [--mdadm 4.2|4.3] [--binary PATH]";

pub fn cmd(args: &[String]) -> rig::Result<()> {
    let mut destdir = None;
    let mut prefix = "/usr".to_string();
    let mut mdadm = MdadmGeneration::V4_3;
    let mut binary = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--destdir" => destdir = Some(PathBuf::from(value()?)),
            "--prefix" => prefix = value()?,
            "--mdadm" => {
                let v = value()?;
                mdadm = MdadmGeneration::parse(&v)
                    .ok_or(format!("--mdadm 4.2 or 4.3 (4.3 and later), not {v}"))?;
            }
            "--binary" => binary = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown install option {other}\n{USAGE}")),
        }
    }
    let destdir = destdir.ok_or(USAGE)?;
    let binary = match binary {
        Some(b) => b,
        None => crate::dist()?,
    };
    let files = lay_out(&destdir, &prefix, mdadm, &binary)?;
    for f in &files {
        println!("{}", destdir.join(f).display());
    }
    Ok(())
}

pub(crate) fn lay_out(
    destdir: &Path,
    prefix: &str,
    mdadm: MdadmGeneration,
    binary: &Path,
) -> rig::Result<Vec<PathBuf>> {
    mdmon_initramfs::install(&Install {
        destdir: destdir.to_path_buf(),
        prefix: prefix.to_string(),
        mdadm,
        binary: Some(binary.to_path_buf()),
    })
    .map_err(|e| format!("install into {}: {e}", destdir.display()))
}

/// The tree the rig puts into the guest (for scenarios with `install=yes`): the same
/// `cargo xtask install` layout for the guest's mdadm 4.2, prefix /usr, with our static
/// mdmon, under target/rig/install (emptied first, so no stale file survives).
pub fn tree_for_rig(ws: &Workspace) -> rig::Result<PathBuf> {
    let dest = ws.rig_dir().join("install");
    let _ = std::fs::remove_dir_all(&dest);
    let binary = crate::dist()?;
    lay_out(&dest, "/usr", MdadmGeneration::V4_2, &binary)?;
    Ok(dest)
}
