//! Early-boot and packaging integration of mdmon-rs, as data files plus the one function
//! that lays them out the way a distribution package would.
//!
//! The files themselves (shell scripts, systemd units, the man page) live beside this crate
//! and are embedded at build time, so `cargo xtask install`, the tests in `initramfs/tests`
//! and the rig all install exactly the same bytes. Paths inside them are written as
//! `@SBINDIR@` and `@LIBDIR@` and filled in from the chosen prefix; nothing else is
//! rewritten.
//!
//! Layout under `DESTDIR` with the default prefix `/usr` (documented in the README):
//!
//! ```text
//! usr/sbin/mdmon                                         the static daemon (from `cargo xtask dist`)
//! usr/lib/systemd/system/mdmon@.service                  the unit for the chosen mdadm (4.2 or 4.3+)
//! usr/lib/mdmon-rs/mdmon-initrd.sh                       shell helpers shared by both initramfs flavours
//! usr/share/initramfs-tools/hooks/mdmon-rs               initramfs-tools: puts our mdmon and helpers in the image
//! usr/share/initramfs-tools/scripts/local-block/mdmon-rs initramfs-tools: after mdadm's assembly, an `@` mdmon for every container
//! usr/share/initramfs-tools/scripts/init-bottom/mdmon-rs initramfs-tools: before the switch, check what must survive it
//! usr/lib/dracut/modules.d/91mdmon-rs/                   dracut: module-setup.sh + pre-pivot hook
//! usr/share/man/man8/mdmon.8                             the manual
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Which mdadm the systemd unit is written for (docs/process.md, "Boot and shutdown integration").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdadmGeneration {
    /// mdadm 4.2 (Debian 12): `mdmon@mdN` everywhere, readiness by forking.
    V4_2,
    /// mdadm 4.3 and later: `mdmon@initrd-mdN` in the initramfs, `--foreground`; ours adds
    /// `Type=notify`.
    V4_3,
}

impl MdadmGeneration {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "4.2" => Some(Self::V4_2),
            "4.3" | "4.3+" | "4.4" | "4.5" | "4.6" => Some(Self::V4_3),
            _ => None,
        }
    }
}

/// One data file: where it goes (relative to the prefix, or to the root when it starts
/// with `/`), its mode, and its text.
struct DataFile {
    dest: &'static str,
    mode: u32,
    text: &'static str,
}

const UNIT_4_2: &str = include_str!("../systemd/mdadm-4.2/mdmon@.service");
const UNIT_4_3: &str = include_str!("../systemd/mdadm-4.3/mdmon@.service");

const FILES: &[DataFile] = &[
    DataFile {
        dest: "lib/mdmon-rs/mdmon-initrd.sh",
        mode: 0o644,
        text: include_str!("../common/mdmon-initrd.sh"),
    },
    DataFile {
        dest: "share/initramfs-tools/hooks/mdmon-rs",
        mode: 0o755,
        text: include_str!("../initramfs-tools/hooks/mdmon-rs"),
    },
    DataFile {
        dest: "share/initramfs-tools/scripts/local-block/mdmon-rs",
        mode: 0o755,
        text: include_str!("../initramfs-tools/scripts/local-block/mdmon-rs"),
    },
    DataFile {
        dest: "share/initramfs-tools/scripts/init-bottom/mdmon-rs",
        mode: 0o755,
        text: include_str!("../initramfs-tools/scripts/init-bottom/mdmon-rs"),
    },
    DataFile {
        dest: "lib/dracut/modules.d/91mdmon-rs/module-setup.sh",
        mode: 0o755,
        text: include_str!("../dracut/91mdmon-rs/module-setup.sh"),
    },
    DataFile {
        dest: "lib/dracut/modules.d/91mdmon-rs/mdmon-rs-pre-pivot.sh",
        mode: 0o755,
        text: include_str!("../dracut/91mdmon-rs/mdmon-rs-pre-pivot.sh"),
    },
    // Outside the prefix, where init scripts live whatever the prefix.
    DataFile {
        dest: "/etc/init.d/mdmon-rs",
        mode: 0o755,
        text: include_str!("../sysvinit/mdmon-rs"),
    },
    DataFile {
        dest: "share/man/man8/mdmon.8",
        mode: 0o644,
        text: include_str!("../man/mdmon.8"),
    },
];

/// What to install and where.
#[derive(Debug, Clone)]
pub struct Install {
    /// The staging root (`DESTDIR`); the tree is laid out below it.
    pub destdir: PathBuf,
    /// The installation prefix as the running system sees it, e.g. `/usr`.
    pub prefix: String,
    pub mdadm: MdadmGeneration,
    /// The static mdmon to install; `None` lays out only the data files (tests).
    pub binary: Option<PathBuf>,
}

/// Fills in the path placeholders for `prefix`.
pub fn render(text: &str, prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    text.replace("@SBINDIR@", &format!("{prefix}/sbin"))
        .replace("@LIBDIR@", &format!("{prefix}/lib"))
}

/// The unit text for a generation, placeholders filled in.
pub fn unit(mdadm: MdadmGeneration, prefix: &str) -> String {
    render(
        match mdadm {
            MdadmGeneration::V4_2 => UNIT_4_2,
            MdadmGeneration::V4_3 => UNIT_4_3,
        },
        prefix,
    )
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    // A previous install may have left a read-only file; replace rather than rewrite it.
    let _ = fs::remove_file(path);
    fs::write(path, bytes)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Lays the tree out; returns the installed paths (relative to `destdir`).
pub fn install(spec: &Install) -> io::Result<Vec<PathBuf>> {
    let prefix = spec.prefix.trim_end_matches('/');
    if !prefix.starts_with('/') && !prefix.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--prefix must be absolute, not {prefix}"),
        ));
    }
    // Relative to the prefix, or to the root when absolute.
    let rel = |p: &str| match p.strip_prefix('/') {
        Some(abs) => PathBuf::from(abs),
        None => PathBuf::from(format!("{prefix}/{p}").trim_start_matches('/')),
    };
    let mut done = Vec::new();
    let mut put = |relpath: PathBuf, bytes: &[u8], mode: u32| -> io::Result<()> {
        write(&spec.destdir.join(&relpath), bytes, mode)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", relpath.display())))?;
        done.push(relpath);
        Ok(())
    };
    if let Some(bin) = &spec.binary {
        let bytes = fs::read(bin)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", bin.display())))?;
        put(rel("sbin/mdmon"), &bytes, 0o755)?;
    }
    put(
        rel("lib/systemd/system/mdmon@.service"),
        unit(spec.mdadm, prefix).as_bytes(),
        0o644,
    )?;
    for f in FILES {
        put(rel(f.dest), render(f.text, prefix).as_bytes(), f.mode)?;
    }
    Ok(done)
}
