//! `cargo xtask deb [--out DIR] [--binary PATH]`: a Debian 12 package of mdmon-rs, built
//! by hand with `dpkg-deb` (issue 15 §4; README "A package").
//!
//! Debian's mdadm owns `/sbin/mdmon`, `/lib/systemd/system/mdmon@.service` and
//! `/usr/share/man/man8/mdmon.8.gz`, and mdadm 4.2 starts the mdmon beside `/sbin/mdadm`.
//! So the package diverts those three paths (mdadm's files move aside as `*.mdadm`, and an
//! mdadm upgrade writes there, not over ours) and points them at ours in /usr/lib/mdmon-rs.
//! Removing the package gives mdadm its files back; both steps rebuild the initramfs,
//! whose hook then copies whichever mdmon `/sbin/mdmon` is. Debian 12 is merged-/usr, so
//! `/usr/sbin/mdmon`, which the unit and our initramfs hook name, is the same path.

use crate::rig::{self, Workspace};
use mdmon_initramfs::MdadmGeneration;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "usage: cargo xtask deb [--out DIR] [--binary PATH]";
pub const PACKAGE: &str = "mdmon-rs";

/// mdadm's files the package replaces: (mdadm's path, where mdadm's copy goes, ours).
const DIVERSIONS: &[(&str, &str, &str)] = &[
    (
        "/sbin/mdmon",
        "/sbin/mdmon.mdadm",
        "/usr/lib/mdmon-rs/mdmon",
    ),
    (
        "/lib/systemd/system/mdmon@.service",
        "/lib/systemd/system/mdmon@.service.mdadm",
        "/usr/lib/mdmon-rs/mdmon@.service",
    ),
    (
        "/usr/share/man/man8/mdmon.8.gz",
        "/usr/share/man/man8/mdmon.mdadm.8.gz",
        "/usr/lib/mdmon-rs/mdmon.8.gz",
    ),
];

pub fn cmd(args: &[String]) -> rig::Result<()> {
    let ws = Workspace::find()?;
    let mut out = ws.root.join("target/deb");
    let mut binary = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--out" => out = PathBuf::from(value()?),
            "--binary" => binary = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown deb option {other}\n{USAGE}")),
        }
    }
    let binary = match binary {
        Some(b) => b,
        None => crate::dist()?,
    };
    let deb = build(&ws, &binary, &out)?;
    println!("{}", deb.display());
    Ok(())
}

fn version(ws: &Workspace) -> rig::Result<String> {
    let text = fs::read_to_string(ws.root.join("linux-shell/Cargo.toml"))
        .map_err(|e| format!("linux-shell/Cargo.toml: {e}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
        })
        .map(str::to_string)
        .ok_or_else(|| "no version in linux-shell/Cargo.toml".to_string())
}

/// The maintainer scripts. Ours are not in the payload at mdadm's paths (dpkg would then
/// take those paths out of mdadm's file list for good, even diverted: `dpkg -S /sbin/mdmon`
/// would find no owner after a purge): the payload keeps them under /usr/lib/mdmon-rs and
/// postinst points mdadm's paths at them with symlinks. Every swap is a rename over the
/// path, so `/sbin/mdmon` exists at every moment (mdadm may start an mdmon at any time).
fn maintainer_scripts() -> [(&'static str, String); 3] {
    let divert: String = DIVERSIONS
        .iter()
        .map(|(path, to, ours)| format!("\tmdmon_rs_divert {path} {to} {ours}\n"))
        .collect();
    let restore: String = DIVERSIONS
        .iter()
        .map(|(path, to, _)| format!("\tmdmon_rs_restore {path} {to}\n"))
        .collect();
    let refresh = "\
# The initramfs carries the mdmon /sbin/mdmon is now (update-initramfs defers to the
# initramfs-tools trigger when called from a maintainer script).
if command -v update-initramfs > /dev/null; then
\tupdate-initramfs -u
fi
if [ -d /run/systemd/system ]; then
\tsystemctl daemon-reload || true
fi
# A running mdmon still executes the file just replaced. A deleted executable on the root
# file system keeps it from going read-only at shutdown, so the volume under it stays dirty
# and resyncs at the next boot: each running mdmon hands over to the current /sbin/mdmon
# (its --takeover).
for pidfile in /run/mdadm/*.pid; do
\t[ -e \"$pidfile\" ] || continue
\tc=${pidfile##*/}
\tc=${c%.pid}
\tkill -0 \"$(cat \"$pidfile\")\" 2> /dev/null || continue
\tif [ -d /run/systemd/system ] && systemctl is-active --quiet \"mdmon@$c.service\"; then
\t\tsystemctl restart \"mdmon@$c.service\" || echo \"mdmon-rs: restarting mdmon@$c.service failed\" >&2
\telse
\t\t/sbin/mdmon --offroot --takeover \"$c\" || echo \"mdmon-rs: mdmon --takeover $c failed\" >&2
\tfi
done
";
    let postinst = format!(
        "#!/bin/sh
# mdmon-rs: mdadm's mdmon, unit and man page are diverted aside; ours take their paths.
set -e
# PATH DIVERTED OURS: mdadm's file copied to DIVERTED, the diversion recorded, then a
# symlink to OURS renamed over PATH.
mdmon_rs_divert() {{
\t# A system that keeps no man pages (dpkg path-exclude) has no man8 to put ours in.
\t[ -d \"${{1%/*}}\" ] || return 0
\tif [ \"$(dpkg-divert --truename \"$1\")\" != \"$2\" ]; then
\t\t[ ! -e \"$1\" ] || cp -p \"$1\" \"$2\"
\t\tdpkg-divert --package {PACKAGE} --add --no-rename --divert \"$2\" \"$1\"
\tfi
\tln -sfn \"$3\" \"$1.mdmon-rs-new\"
\tmv -T \"$1.mdmon-rs-new\" \"$1\"
}}
case \"$1\" in
configure)
{divert}\t;;
*)
\texit 0
\t;;
esac
{refresh}exit 0
"
    );
    let prerm = format!(
        "#!/bin/sh
# mdmon-rs: mdadm's files go back to their paths before ours go away.
set -e
# PATH DIVERTED: mdadm's file copied back and renamed over PATH, the diversion removed.
mdmon_rs_restore() {{
\tif [ \"$(dpkg-divert --truename \"$1\")\" = \"$2\" ]; then
\t\tif [ -e \"$2\" ]; then
\t\t\tcp -p \"$2\" \"$1.mdmon-rs-new\"
\t\t\tmv -T \"$1.mdmon-rs-new\" \"$1\"
\t\telse
\t\t\trm -f \"$1\"
\t\tfi
\t\tdpkg-divert --package {PACKAGE} --remove --no-rename --divert \"$2\" \"$1\"
\t\trm -f \"$2\"
\tfi
}}
case \"$1\" in
remove | deconfigure)
{restore}\t;;
esac
exit 0
"
    );
    let postrm = format!(
        "#!/bin/sh
set -e
case \"$1\" in
remove)
\t;;
*)
\texit 0
\t;;
esac
{refresh}exit 0
"
    );
    [("postinst", postinst), ("prerm", prerm), ("postrm", postrm)]
}

/// Builds the package into `out`; returns its path.
pub fn build(ws: &Workspace, binary: &Path, out: &Path) -> rig::Result<PathBuf> {
    let version = version(ws)?;
    let stage = ws.root.join("target/deb/stage");
    let _ = fs::remove_dir_all(&stage);
    crate::install::lay_out(&stage, "/usr", MdadmGeneration::V4_2, binary)?;
    // Ours under /usr/lib/mdmon-rs (see `maintainer_scripts`); the man page compressed as
    // Debian ships it.
    let mv = |from: &str, to: &str| -> rig::Result<()> {
        let (from, to) = (stage.join(from), stage.join(to));
        if let Some(d) = to.parent() {
            fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        fs::rename(&from, &to).map_err(|e| format!("{}: {e}", from.display()))
    };
    mv("usr/sbin/mdmon", "usr/lib/mdmon-rs/mdmon")?;
    mv(
        "usr/lib/systemd/system/mdmon@.service",
        "usr/lib/mdmon-rs/mdmon@.service",
    )?;
    mv("usr/share/man/man8/mdmon.8", "usr/lib/mdmon-rs/mdmon.8")?;
    // Debian's mdadm does the takeover on a root without systemd itself (its
    // /etc/init.d/mdadm runs `mdmon --takeover --all`, which is ours once diverted): the
    // generic takeover script of the install layout stays out of the package.
    fs::remove_dir_all(stage.join("etc")).map_err(|e| e.to_string())?;
    rig::run(
        Command::new("gzip")
            .arg("-9n")
            .arg(stage.join("usr/lib/mdmon-rs/mdmon.8")),
    )?;
    for d in [
        "usr/sbin",
        "usr/lib/systemd/system",
        "usr/lib/systemd",
        "usr/share/man/man8",
        "usr/share/man",
    ] {
        let _ = fs::remove_dir(stage.join(d));
    }
    let debian = stage.join("DEBIAN");
    fs::create_dir_all(&debian).map_err(|e| e.to_string())?;
    let size_kib = dir_size(&stage)? / 1024 + 1;
    let control = format!(
        "Package: {PACKAGE}\nVersion: {version}-1\nArchitecture: amd64\nMaintainer: mdmon-rs developers <mdmon-rs@localhost>\nInstalled-Size: {size_kib}\nDepends: mdadm (>= 4.2)\nSection: admin\nPriority: optional\nDescription: metadata monitor for IMSM and DDF md arrays (mdmon replacement)\n mdmon-rs replaces mdadm's mdmon, the daemon that records dirty state, failures,\n rebuild and reshape progress in Intel IMSM/RST/VROC and SNIA DDF metadata. The\n package diverts mdadm's /sbin/mdmon, mdmon@.service and mdmon(8), and adds\n initramfs-tools and dracut integration.\n"
    );
    fs::write(debian.join("control"), control).map_err(|e| e.to_string())?;
    for (name, text) in maintainer_scripts() {
        let p = debian.join(name);
        fs::write(&p, text).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    }
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let deb = out.join(format!("{PACKAGE}_{version}-1_amd64.deb"));
    rig::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    Ok(deb)
}

fn dir_size(dir: &Path) -> rig::Result<u64> {
    let mut n = 0;
    for e in fs::read_dir(dir).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let m = fs::symlink_metadata(e.path()).map_err(|e| e.to_string())?;
        n += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(n)
}
