//! The Debian root of the real-boot scenarios (a `debian=` key in a scenario's rig header;
//! issue 15 §3, README "Early boot and packaging").
//!
//! A Debian 12 root is built once with `debootstrap` (systemd, udev, Debian's mdadm 4.2,
//! initramfs-tools) and the rig's own kernel package installed into it, then cached under
//! `target/rig/cache/debian-root`. Each run copies it, adds the scenario's instrumentation
//! (`tests/vm/debian-root/`: a writer and a check, as systemd units), installs our package
//! with `cargo xtask install`'s layout when the run is for our mdmon (the original run keeps
//! Debian's mdmon and unit), runs the root's own `update-initramfs` in a chroot and makes an
//! ext4 image of it. The image goes onto the run's last disk, from which the scenario's
//! first (rig) boot copies it into an IMSM RAID1; the Debian boots then start the rig's
//! kernel with the initramfs that `update-initramfs` built, and the root's systemd takes it
//! from there.

use crate::rig::{self, Mdmon, Result, Workspace};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What debootstrap installs beyond `minbase` and the flavour's init system and initramfs
/// generator: the device manager and md tools a Debian install on IMSM has, and what the
/// kernel package needs.
const INCLUDE: &str = "udev,mdadm,busybox,kmod,linux-base,e2fsprogs,procps,util-linux";

/// Which initramfs generator the root has (a scenario's `debian_initramfs=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// Debian's default, initramfs-tools, with mdadm's hook and scripts.
    InitramfsTools,
    /// dracut (Debian 12 ships 059) with its `90mdraid` module; a systemd initramfs.
    Dracut,
    /// No systemd: sysvinit as PID 1 (`sysvinit-core`), initramfs-tools. mdadm's own
    /// /etc/init.d/mdadm does the takeover there, our /etc/init.d/mdmon-rs before it.
    SysV,
}

impl Flavour {
    /// debootstrap's `--include`: the init system, [`INCLUDE`], the initramfs generator.
    fn include(self) -> String {
        match self {
            Flavour::InitramfsTools => format!("systemd,systemd-sysv,{INCLUDE},initramfs-tools"),
            Flavour::Dracut => format!("systemd,systemd-sysv,{INCLUDE},dracut"),
            Flavour::SysV => format!("sysvinit-core,{INCLUDE},initramfs-tools"),
        }
    }
    fn cache_name(self) -> &'static str {
        match self {
            Flavour::InitramfsTools => "debian-root",
            Flavour::Dracut => "debian-root-dracut",
            Flavour::SysV => "debian-root-sysv",
        }
    }
    /// Kernel command line words the flavour needs beyond the root: dracut assembles md
    /// arrays only with `rd.auto` (its default since 024), and its initramfs runs systemd,
    /// whose manager passes `systemd.setenv` to udev and services (IMSM_NO_PLATFORM: a VM
    /// has no Intel RST platform).
    pub fn cmdline(self) -> &'static str {
        match self {
            Flavour::InitramfsTools | Flavour::SysV => "",
            Flavour::Dracut => " rd.auto=1 systemd.setenv=IMSM_NO_PLATFORM=1",
        }
    }
}
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// The size of the root's ext4 image (and what the scenario copies into its volume).
pub const ROOT_MIB: u64 = 384;
/// The file system label the Debian boots mount as their root (`root=LABEL=`).
pub const ROOT_LABEL: &str = "mdroot";
/// Kernel module directories kept in the root (under `lib/modules/VER/kernel`): what a
/// guest with virtio-scsi disks, md and ext4 needs. The rest (graphics, network, sound...)
/// only makes the image and every copy of it slower.
const KEEP_MODULES: &[&str] = &[
    "arch",
    "crypto",
    "lib",
    "block",
    "drivers/md",
    "drivers/scsi",
    "drivers/block",
    "drivers/virtio",
    "drivers/dax",
    "drivers/char",
    "drivers/input/serio",
    "fs/ext4",
    "fs/jbd2",
    "fs/mbcache.ko",
    "fs/efivarfs",
];
/// Bumped when what [`base`] builds changes, so a cached root is rebuilt.
const ROOT_STAMP_VERSION: &str = "v2";

/// proc, sys and dev mounted inside a root for the time a chroot command needs them
/// (update-initramfs and the kernel package's scripts read them); unmounted on drop, also
/// when the build fails half way.
struct ChrootMounts {
    mounted: Vec<PathBuf>,
}

impl ChrootMounts {
    fn new(root: &Path) -> Result<Self> {
        let mut m = ChrootMounts {
            mounted: Vec::new(),
        };
        for (what, args) in [
            ("proc", &["-t", "proc", "proc"][..]),
            ("sys", &["-t", "sysfs", "sys"][..]),
            ("dev", &["--bind", "/dev"][..]),
        ] {
            let at = root.join(what);
            fs::create_dir_all(&at).map_err(|e| format!("{}: {e}", at.display()))?;
            run(Command::new("mount").args(args).arg(&at))?;
            m.mounted.push(at);
        }
        Ok(m)
    }
}

impl Drop for ChrootMounts {
    fn drop(&mut self) {
        for at in self.mounted.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(at).status();
        }
    }
}

/// Runs quietly (debootstrap, dpkg and the initramfs tools are verbose); what they printed
/// goes into the error.
fn run(cmd: &mut Command) -> Result<()> {
    rig::output(cmd.stdin(Stdio::null())).map(drop)
}

/// Removes a root tree, never what is mounted inside it: a run killed inside a chroot
/// command leaves proc, sys and the host's /dev mounted there (`ChrootMounts` had no chance
/// to unmount), and a plain `rm -rf` would go through the bind mount into the host's /dev.
fn remove_tree(path: &Path) -> Result<()> {
    let prefix = format!("{}/", path.display());
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut inside: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    // Deepest first.
    inside.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in inside {
        let _ = Command::new("umount").arg("-l").arg(m).status();
    }
    run(Command::new("rm")
        .args(["-rf", "--one-file-system"])
        .arg(path))
}

fn chroot(root: &Path, args: &[&str]) -> Result<()> {
    run(Command::new("chroot")
        .arg(root)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
}

/// The cached Debian root with the rig's kernel installed (built when missing or stale).
fn base(ws: &Workspace, kernel_version: &str, flavour: Flavour) -> Result<PathBuf> {
    let cache = ws.rig_dir().join("cache");
    let kernel_deb = fs::read_dir(cache.join("debs"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("linux-image-{kernel_version}_")))
        })
        .ok_or_else(|| format!("no linux-image-{kernel_version} package in the rig's cache"))?;
    let root = cache.join(flavour.cache_name());
    let stamp_file = cache.join(format!("{}.stamp", flavour.cache_name()));
    let include = flavour.include();
    let stamp = format!(
        "{SUITE} {include}\n{}\nmodules={KEEP_MODULES:?}\n{ROOT_STAMP_VERSION}\n",
        kernel_deb.file_name().unwrap_or_default().to_string_lossy()
    );
    if fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
        && root.join("usr/sbin/mdadm").is_file()
    {
        return Ok(root);
    }
    eprintln!("rig: building the Debian root (debootstrap {SUITE}; a few minutes, cached)");
    let _ = fs::remove_file(&stamp_file);
    if root.exists() {
        remove_tree(&root)?;
    }
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={include}"), SUITE])
        .arg(&root)
        .arg(MIRROR))?;
    let in_root = format!(
        "/tmp/{}",
        kernel_deb.file_name().unwrap_or_default().to_string_lossy()
    );
    fs::copy(&kernel_deb, root.join(in_root.trim_start_matches('/')))
        .map_err(|e| format!("copy the kernel package into the root: {e}"))?;
    {
        let _mounts = ChrootMounts::new(&root)?;
        // The initramfs it makes here is replaced per run (after our package, if any, is in).
        chroot(&root, &["dpkg", "-i", &in_root])?;
    }
    let _ = fs::remove_file(root.join(in_root.trim_start_matches('/')));
    prune_modules(&root, kernel_version)?;
    {
        let _mounts = ChrootMounts::new(&root)?;
        chroot(&root, &["depmod", kernel_version])?;
    }
    for d in [
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "var/cache/apt",
    ] {
        let p = root.join(d);
        if p.exists() {
            remove_tree(&p)?;
            fs::create_dir_all(&p).map_err(|e| e.to_string())?;
        }
    }
    configure(&root, flavour)?;
    fs::write(&stamp_file, stamp).map_err(|e| e.to_string())?;
    Ok(root)
}

/// Removes the kernel modules outside [`KEEP_MODULES`].
fn prune_modules(root: &Path, kernel_version: &str) -> Result<()> {
    let kernel = root.join(format!("usr/lib/modules/{kernel_version}/kernel"));
    fn walk(dir: &Path, rel: &str) -> Result<()> {
        for e in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let e = e.map_err(|e| e.to_string())?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if KEEP_MODULES.contains(&path.as_str()) {
                continue;
            }
            let inside = KEEP_MODULES
                .iter()
                .any(|k| k.starts_with(&format!("{path}/")));
            if inside && e.path().is_dir() {
                walk(&e.path(), &path)?;
            } else if e.path().is_dir() {
                fs::remove_dir_all(e.path()).map_err(|err| format!("{path}: {err}"))?;
            } else {
                fs::remove_file(e.path()).map_err(|err| format!("{path}: {err}"))?;
            }
        }
        Ok(())
    }
    walk(&kernel, "")
}

/// The system settings an installer would have made: the root in fstab by label, a host
/// name, a small initramfs that still carries what this machine boots from (the disk
/// drivers, md, ext4: initramfs-tools' `MODULES=list` plus the mdadm hook's own modules).
fn configure(root: &Path, flavour: Flavour) -> Result<()> {
    let write = |rel: &str, text: &str| -> Result<()> {
        let p = root.join(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(
        "etc/fstab",
        &format!("LABEL={ROOT_LABEL} / ext4 errors=remount-ro 0 1\n"),
    )?;
    write("etc/hostname", "rig-debian\n")?;
    if flavour == Flavour::Dracut {
        // Not host-only: the image is built in a chroot on another machine. The drivers
        // this machine boots from, and md.
        write(
            "etc/dracut.conf.d/rig.conf",
            "hostonly=\"no\"\nadd_dracutmodules+=\" mdraid \"\nadd_drivers+=\" virtio_pci virtio_scsi sd_mod raid1 ext4 \"\ninstall_items+=\" /etc/udev/rules.d/60-rig-imsm-no-platform.rules \"\n",
        )?;
        // udev runs `mdadm -I` with the device's properties as its environment, not the
        // manager's: IMSM_NO_PLATFORM as a property of every block device.
        write(
            "etc/udev/rules.d/60-rig-imsm-no-platform.rules",
            "SUBSYSTEM==\"block\", ENV{IMSM_NO_PLATFORM}=\"1\"\n",
        )?;
        return Ok(());
    }
    // initramfs-tools' init sources conf.d: IMSM_NO_PLATFORM reaches the initramfs'
    // `mdadm --assemble --scan` and the mdmon it starts (a VM has no Intel RST platform;
    // Debian's local-block/mdadm documents this way of passing it).
    write(
        "etc/initramfs-tools/conf.d/rig",
        "MODULES=list\nexport IMSM_NO_PLATFORM=1\n",
    )?;
    write(
        "etc/initramfs-tools/modules",
        "virtio_pci\nvirtio_scsi\nsd_mod\next4\n",
    )?;
    Ok(())
}

/// Which mdmon the run's root gets.
pub enum Daemon {
    /// Debian's: nothing installed.
    Original,
    /// Ours (this binary) laid out as `cargo xtask install --mdadm 4.2` does.
    Tree(PathBuf),
    /// Ours (this binary) in `cargo xtask deb`'s package, installed with `dpkg -i`.
    Deb(PathBuf),
}

impl Daemon {
    /// For a run with `mdmon`: ours is `our_binary` (else `cargo xtask dist`'s), as a
    /// package when the scenario says `debian_install=deb`.
    pub fn for_run(mdmon: Mdmon, our_binary: Option<&Path>, deb: bool) -> Result<Daemon> {
        let binary = match (mdmon, our_binary) {
            (Mdmon::Original, _) => return Ok(Daemon::Original),
            (Mdmon::Ours, Some(b)) => b.to_path_buf(),
            (Mdmon::Ours, None) => crate::dist()?,
        };
        Ok(if deb {
            Daemon::Deb(binary)
        } else {
            Daemon::Tree(binary)
        })
    }
}

/// The run's root: the cached one, plus the scenario's instrumentation and (for our mdmon)
/// our package; its initramfs made by the root's own update-initramfs. Writes the root's
/// ext4 image (`size` bytes) to `image` and returns the initramfs (copied into `dir`).
#[allow(clippy::too_many_arguments)]
pub fn prepare_run(
    ws: &Workspace,
    kernel_version: &str,
    flavour: Flavour,
    daemon: &Daemon,
    client: Option<&crate::rig::Client>,
    dir: &Path,
    image: &Path,
    size: u64,
) -> Result<PathBuf> {
    let base = base(ws, kernel_version, flavour)?;
    let root = dir.join("root");
    if root.exists() {
        remove_tree(&root)?;
    }
    run(Command::new("cp").arg("-a").arg(&base).arg(&root))?;
    let result = (|| {
        // The instrumentation: units and scripts laid out as they go into the root (for a
        // root without systemd, init scripts in place of the units).
        let mut overlays = vec![ws.scenarios_dir().join("debian-root")];
        if flavour == Flavour::SysV {
            overlays.push(ws.scenarios_dir().join("debian-root-sysv"));
        }
        for overlay in overlays {
            run(Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", overlay.display()))
                .arg(&root))?;
        }
        let tag = match daemon {
            Daemon::Original => "original",
            Daemon::Tree(_) | Daemon::Deb(_) => "ours",
        };
        let init = if flavour == Flavour::SysV {
            "sysvinit"
        } else {
            "systemd"
        };
        let mut env = format!("RIG_MDMON={tag}\nRIG_INIT={init}\n");
        if let Some(c) = client {
            env.push_str(&format!("RIG_CLIENT={}\n", c.version));
        }
        fs::write(root.join("etc/rig.env"), env).map_err(|e| e.to_string())?;
        let generation = match client {
            Some(c) => mdmon_initramfs::MdadmGeneration::parse(&c.version)
                .ok_or_else(|| format!("no unit generation for mdadm {}", c.version))?,
            // Debian 12's mdadm is 4.2: the forking unit.
            None => mdmon_initramfs::MdadmGeneration::V4_2,
        };
        if let Some(c) = client {
            install_client(&root, c, matches!(daemon, Daemon::Original))?;
        }
        let _mounts = ChrootMounts::new(&root)?;
        match daemon {
            Daemon::Original => {}
            Daemon::Tree(binary) => {
                // As `cargo xtask install --destdir ROOT --mdadm 4.2|4.3` would: on Debian
                // 12's merged /usr this replaces mdadm's /sbin/mdmon and mdmon@.service.
                crate::install::lay_out(&root, "/usr", generation, binary)?;
            }
            Daemon::Deb(binary) => {
                let pkg = crate::deb::build(ws, binary, &dir.join("deb"))?;
                let name = pkg
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                fs::copy(&pkg, root.join("tmp").join(&name)).map_err(|e| e.to_string())?;
                chroot(&root, &["dpkg", "-i", &format!("/tmp/{name}")])?;
                let _ = fs::remove_file(root.join("tmp").join(&name));
                // rig-check purges the package at the end of the first Debian boot.
                fs::write(root.join("etc/rig-purge-at"), "2\n").map_err(|e| e.to_string())?;
            }
        }
        if flavour == Flavour::SysV {
            let mut scripts = vec!["rig-writer", "rig-check"];
            if matches!(daemon, Daemon::Tree(_)) {
                // Ours runs in rcS; mdadm's own takeover (rc2) then hands over once more.
                scripts.push("mdmon-rs");
            }
            for s in scripts {
                chroot(&root, &["update-rc.d", s, "defaults"])?;
            }
        } else {
            chroot(
                &root,
                &[
                    "systemctl",
                    "enable",
                    "rig-writer.service",
                    "rig-check.service",
                ],
            )?;
        }
        match flavour {
            Flavour::InitramfsTools | Flavour::SysV => {
                chroot(&root, &["update-initramfs", "-u", "-k", kernel_version])?
            }
            Flavour::Dracut => chroot(
                &root,
                &[
                    "dracut",
                    "-f",
                    "--kver",
                    kernel_version,
                    &format!("/boot/initrd.img-{kernel_version}"),
                ],
            )?,
        }
        Ok::<(), String>(())
    })();
    if let Err(e) = result {
        let _ = remove_tree(&root);
        return Err(e);
    }
    let initrd = dir.join("debian-initrd.img");
    fs::copy(
        root.join(format!("boot/initrd.img-{kernel_version}")),
        &initrd,
    )
    .map_err(|e| format!("the root's initramfs: {e}"))?;
    let _ = fs::remove_file(image);
    let made = run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-d"])
        .arg(&root)
        // No lazy init: its background writes would keep the volume dirty at every boot.
        .args(["-E", "lazy_itable_init=0,lazy_journal_init=0"])
        .arg(image)
        .arg(format!("{}k", size / 1024)));
    let _ = remove_tree(&root);
    made?;
    Ok(initrd)
}

/// An upstream mdadm release in the root in place of Debian's 4.2, as an admin who built it
/// with `make install` would have it: its `mdadm` over Debian's, and for the original
/// daemon its C `mdmon` and the release's own `mdmon@.service`. Debian's udev rules,
/// initramfs hook and shutdown hook stay; they call `/sbin/mdadm`, now the release's.
fn install_client(root: &Path, client: &crate::rig::Client, original: bool) -> Result<()> {
    let put = |from: &Path, to: &str| -> Result<()> {
        let dest = root.join(to);
        fs::copy(from, &dest)
            .map_err(|e| format!("{} -> {}: {e}", from.display(), dest.display()))?;
        fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| e.to_string())
    };
    put(&client.mdadm, "usr/sbin/mdadm")?;
    if original {
        put(&client.mdmon, "usr/sbin/mdmon")?;
        fs::write(
            root.join("usr/lib/systemd/system/mdmon@.service"),
            UPSTREAM_UNIT_4_3,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// mdadm 4.3–4.6's `systemd/mdmon@.service` as `make install` renders it (BINDIR=/sbin),
/// for the original daemon: Type=simple (no readiness), `--foreground --offroot
/// --takeover`, spared at switch-root and kept out of the slice stopped at shutdown.
const UPSTREAM_UNIT_4_3: &str = "\
[Unit]
Description=MD Metadata Monitor on %I
DefaultDependencies=no
Before=initrd-switch-root.target
Documentation=man:mdmon(8)
IgnoreOnIsolate=true

[Service]
ExecStart=/sbin/mdmon --foreground --offroot --takeover %I
Slice=system.slice
";

/// The root's current initramfs, read from a member disk of its RAID1 with debugfs (as a
/// boot loader would read it): a boot may have changed it (the package's removal).
pub fn initrd_from_disk(disk: &Path, kernel_version: &str, out: &Path) -> Result<PathBuf> {
    let _ = fs::remove_file(out);
    run(Command::new("debugfs")
        .arg("-R")
        .arg(format!(
            "dump -p /boot/initrd.img-{kernel_version} {}",
            out.display()
        ))
        .arg(disk))?;
    match fs::metadata(out) {
        Ok(m) if m.len() > 0 => Ok(out.to_path_buf()),
        _ => Err(format!(
            "no /boot/initrd.img-{kernel_version} on the root in {}",
            disk.display()
        )),
    }
}
