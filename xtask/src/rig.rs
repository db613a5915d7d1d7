//! The real-kernel rig: Debian 12's kernel with its md modules, busybox, Debian's mdadm 4.2
//! and the original C mdmon in a qemu guest, with virtual disks, running one scenario script.
//!
//! Everything comes from Debian packages fetched with `apt-get download` and cached under
//! `target/rig/cache`, so the rig does not depend on what the host has installed. The guest
//! image is two cpio archives: a base (kernel modules, busybox, mdadm, libraries) rebuilt
//! only when the packages change, and a small per-boot overlay (init, scenario, our mdmon)
//! appended behind it; the kernel unpacks both and later entries win.

use crate::cpio::CpioWriter;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, String>;

/// Debian packages that make up the guest. The kernel package name is resolved at run time
/// through `linux-image-amd64` so the rig follows Debian's current 6.1 kernel.
const GUEST_PACKAGES: &[&str] = &[
    "busybox-static",
    "mdadm",
    "libc6",
    "libudev1",
    // dmsetup (dm-delay under the members for `cargo xtask bench`)
    "dmsetup",
    "libdevmapper1.02.1",
    "libselinux1",
    "libpcre2-8-0",
    // mke2fs and e2fsck (an ext4 root on an IMSM volume for the early-boot scenario)
    "e2fsprogs",
    "libext2fs2",
    "libcom-err2",
    "libblkid1",
    "libuuid1",
    // blktrace/blkparse: when each member write was issued and completed (`cargo xtask
    // crash` learns from it which writes were in flight together)
    "blktrace",
    "libaio1",
];

/// Modules the guest loads at boot (their dependencies are resolved with modprobe).
const GUEST_MODULES: &[&str] = &[
    "md-mod",
    "raid0",
    "raid1",
    "raid10",
    "raid456",
    "linear",
    "loop",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "ext4",
    "dm-mod",
    "dm-delay",
    "dm-flakey",
    // every member's writes in one log for `cargo xtask crash`
    "dm-log-writes",
];

/// Binaries copied from the extracted packages into the guest, with their library closure.
const GUEST_BINARIES: &[(&str, &str)] = &[
    ("sbin/mdadm", "sbin/mdadm"),
    // The original mdmon sits where mdadm 4.2 starts it (beside mdadm) and is kept under a
    // second name so scenarios can always compare with it.
    ("sbin/mdmon", "sbin/mdmon"),
    ("sbin/mdmon", "usr/lib/rig/mdmon.orig"),
    ("sbin/dmsetup", "sbin/dmsetup"),
    ("sbin/mke2fs", "sbin/mke2fs"),
    ("sbin/e2fsck", "sbin/e2fsck"),
    ("usr/sbin/blktrace", "usr/sbin/blktrace"),
    ("usr/bin/blkparse", "usr/bin/blkparse"),
];

pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn find() -> Result<Self> {
        let manifest = env!("CARGO_MANIFEST_DIR");
        let root = Path::new(manifest)
            .parent()
            .ok_or("xtask has no parent directory")?
            .to_path_buf();
        Ok(Workspace { root })
    }
    pub fn rig_dir(&self) -> PathBuf {
        self.root.join("target/rig")
    }
    pub fn scenarios_dir(&self) -> PathBuf {
        self.root.join("tests/vm")
    }
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Host tools the rig needs; installed through apt when missing (CI starts from a fresh
/// machine, and we run as root there).
pub fn ensure_host_tools() -> Result<()> {
    let needed = [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("modprobe", "kmod"),
        ("depmod", "kmod"),
        ("readelf", "binutils"),
        ("dpkg-deb", "dpkg"),
        ("tar", "tar"),
        // the Debian root of the real-boot scenarios (realroot.rs)
        ("debootstrap", "debootstrap"),
        ("mke2fs", "e2fsprogs"),
    ];
    let missing: BTreeSet<&str> = needed
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(_, p)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("rig: installing host packages: {missing:?}");
    apt_update_once()?;
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing);
    run(&mut cmd)
}

fn apt_update_once() -> Result<()> {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    run(Command::new("apt-get")
        .args(["update", "-q"])
        .stdout(Stdio::null()))
}

/// The newest `linux-image-6.1.0-*-amd64` that `linux-image-amd64` depends on.
fn kernel_package() -> Result<String> {
    let mut text = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))
        .unwrap_or_default();
    if !text.contains("Depends: linux-image-") {
        apt_update_once()?;
        text = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    }
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-"))
        .map(str::to_string)
        .ok_or_else(|| "apt-cache cannot resolve linux-image-amd64".to_string())
}

/// Downloads the guest's Debian packages into the cache (once) and returns their paths.
fn fetch_packages(cache: &Path) -> Result<Vec<PathBuf>> {
    let debs = cache.join("debs");
    fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let kernel = kernel_package()?;
    let mut wanted: Vec<String> = GUEST_PACKAGES.iter().map(|s| s.to_string()).collect();
    wanted.push(kernel);
    let have_deb = |p: &str| -> Option<PathBuf> {
        fs::read_dir(&debs)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{p}_")) && n.ends_with(".deb"))
            })
    };
    let missing: Vec<&String> = wanted.iter().filter(|p| have_deb(p).is_none()).collect();
    if !missing.is_empty() {
        eprintln!("rig: downloading Debian packages: {missing:?}");
        let attempt = |m: &[&String]| {
            run(Command::new("apt-get")
                .arg("download")
                .args(m)
                .current_dir(&debs)
                .stderr(Stdio::null()))
        };
        if attempt(&missing).is_err() {
            apt_update_once()?;
            attempt(&missing)?;
        }
    }
    wanted
        .iter()
        .map(|p| have_deb(p).ok_or_else(|| format!("package {p} did not download")))
        .collect()
}

pub struct GuestImage {
    pub kernel: PathBuf,
    pub base_cpio: PathBuf,
    pub kernel_version: String,
    /// Our static guest tool (`tests/src/bin/rig-probe`), at `/usr/bin/rig-probe`.
    pub probe: PathBuf,
}

/// Builds the static `rig-probe` the guest gets beside busybox.
fn build_probe(ws: &Workspace) -> Result<PathBuf> {
    let target = "x86_64-unknown-linux-musl";
    let ok = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "mdmon-tests",
            "--bin",
            "rig-probe",
            "--target",
            target,
        ])
        .current_dir(&ws.root)
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if !ok {
        return Err("cargo build of rig-probe failed".into());
    }
    Ok(ws.root.join(format!("target/{target}/release/rig-probe")))
}

/// Builds (or reuses) the kernel and the base initramfs.
pub fn prepare(ws: &Workspace) -> Result<GuestImage> {
    ensure_host_tools()?;
    let cache = ws.rig_dir().join("cache");
    let debs = fetch_packages(&cache)?;
    let mut stamp_text: String = debs
        .iter()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
                + "\n"
        })
        .collect();
    stamp_text.push_str(&format!(
        "modules={GUEST_MODULES:?}\nbinaries={GUEST_BINARIES:?}\nv3\n"
    ));
    let base = cache.join("base");
    let stamp = base.join("stamp");
    let image = GuestImage {
        kernel: base.join("vmlinuz"),
        base_cpio: base.join("base.cpio"),
        kernel_version: fs::read_to_string(base.join("kernel-version")).unwrap_or_default(),
        probe: build_probe(ws)?,
    };
    if fs::read_to_string(&stamp).ok().as_deref() == Some(stamp_text.as_str())
        && image.kernel.is_file()
        && image.base_cpio.is_file()
    {
        return Ok(image);
    }
    eprintln!("rig: building the guest base image");
    let _ = fs::remove_dir_all(&base);
    let tree = cache.join("extract");
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(&tree).map_err(|e| e.to_string())?;
    fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    for deb in &debs {
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree))?;
    }
    let kver = fs::read_dir(tree.join("lib/modules"))
        .map_err(|e| format!("no modules in kernel package: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .ok_or("no kernel version directory")?;
    fs::copy(tree.join(format!("boot/vmlinuz-{kver}")), &image.kernel)
        .map_err(|e| format!("copy kernel: {e}"))?;
    fs::write(base.join("kernel-version"), &kver).map_err(|e| e.to_string())?;

    let file = fs::File::create(&image.base_cpio).map_err(|e| e.to_string())?;
    let mut cpio = CpioWriter::new(std::io::BufWriter::new(file));
    let mut dirs = BTreeSet::new();
    let mut add_dirs = |cpio: &mut CpioWriter<_>, path: &str| -> Result<()> {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if dirs.insert(acc.clone()) {
                cpio.dir(&acc).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    };
    for d in [
        "proc/x",
        "sys/x",
        "dev/x",
        "run/x",
        "tmp/x",
        "etc/x",
        "mnt/x",
        "usr/bin/x",
        "usr/sbin/x",
    ] {
        add_dirs(&mut cpio, d)?;
    }
    // busybox and its applets
    let busybox = fs::read(tree.join("bin/busybox")).map_err(|e| e.to_string())?;
    add_dirs(&mut cpio, "bin/busybox")?;
    cpio.file("bin/busybox", 0o755, &busybox)
        .map_err(|e| e.to_string())?;
    let applets = output(Command::new(tree.join("bin/busybox")).arg("--list"))?;
    for applet in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        cpio.symlink(&format!("bin/{applet}"), "busybox")
            .map_err(|e| e.to_string())?;
    }
    // mdadm, mdmon and their shared libraries, taken from the packages
    let mut libs = BTreeSet::new();
    for (src, dst) in GUEST_BINARIES {
        let data = fs::read(tree.join(src)).map_err(|e| format!("{src}: {e}"))?;
        add_dirs(&mut cpio, dst)?;
        cpio.file(dst, 0o755, &data).map_err(|e| e.to_string())?;
        collect_libs(&tree, &tree.join(src), &mut libs)?;
    }
    for lib in &libs {
        let data = fs::read(tree.join(lib)).map_err(|e| format!("{lib}: {e}"))?;
        add_dirs(&mut cpio, lib)?;
        cpio.file(lib, 0o755, &data).map_err(|e| e.to_string())?;
    }
    // The dynamic loader is looked up through the absolute path in the ELF interpreter.
    add_dirs(&mut cpio, "lib64/x")?;
    cpio.symlink(
        "lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    )
    .map_err(|e| e.to_string())?;
    // kernel modules in load order
    run(Command::new("depmod").arg("-b").arg(&tree).arg(&kver))?;
    let mut order: Vec<String> = Vec::new();
    for m in GUEST_MODULES {
        let deps = output(Command::new("modprobe").arg("-d").arg(&tree).args([
            "-S",
            &kver,
            "--show-depends",
            m,
        ]))?;
        for line in deps.lines() {
            if let Some(path) = line.strip_prefix("insmod ") {
                let path = path.trim();
                let rel = path
                    .strip_prefix(tree.to_str().unwrap_or_default())
                    .unwrap_or(path)
                    .trim_start_matches('/')
                    .to_string();
                if !order.contains(&rel) {
                    order.push(rel);
                }
            }
        }
    }
    for rel in &order {
        let data = fs::read(tree.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
        add_dirs(&mut cpio, rel)?;
        cpio.file(rel, 0o644, &data).map_err(|e| e.to_string())?;
    }
    let list: String = order.iter().map(|r| format!("/{r}\n")).collect();
    add_dirs(&mut cpio, "rig/modules.list")?;
    cpio.file("rig/modules.list", 0o644, list.as_bytes())
        .map_err(|e| e.to_string())?;
    cpio.file("etc/kernel-version", 0o644, kver.as_bytes())
        .map_err(|e| e.to_string())?;
    cpio.finish().map_err(|e| e.to_string())?;
    // The extracted tree is large (mostly the kernel's modules); keep only what we built.
    let _ = fs::remove_dir_all(&tree);
    fs::write(&stamp, stamp_text).map_err(|e| e.to_string())?;
    Ok(GuestImage {
        kernel_version: kver,
        ..image
    })
}

/// Adds the shared-library closure of `elf` (resolved inside the extracted package tree).
fn collect_libs(tree: &Path, elf: &Path, libs: &mut BTreeSet<String>) -> Result<()> {
    let text = output(Command::new("readelf").arg("-d").arg(elf))?;
    for line in text.lines() {
        let Some(start) = line.find("Shared library: [") else {
            continue;
        };
        let name = &line[start + 17..line.len().saturating_sub(1)];
        let candidates = [
            "lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu",
            "lib",
            "usr/lib",
            "lib64",
        ];
        let found = candidates
            .iter()
            .map(|d| format!("{d}/{name}"))
            .find(|p| tree.join(p).exists())
            .ok_or_else(|| {
                format!(
                    "{}: library {name} not in the guest packages",
                    elf.display()
                )
            })?;
        // Resolve symlinks to a real file, but install it under the name the loader asks for.
        if libs.insert(found.clone()) {
            let real = fs::canonicalize(tree.join(&found)).map_err(|e| e.to_string())?;
            collect_libs(tree, &real, libs)?;
        }
    }
    Ok(())
}

/// Which mdmon the guest has at /sbin/mdmon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mdmon {
    Original,
    Ours,
}

/// Parameters a scenario declares in its `# rig:` header line(s).
#[derive(Clone, Debug)]
pub struct ScenarioSpec {
    pub name: String,
    pub path: PathBuf,
    pub disks: u32,
    pub disk_size: String,
    /// `sector=4096`: the disks' logical (and physical) sector size in bytes; qemu's
    /// default, 512, when absent.
    pub sector: Option<u32>,
    pub boots: u32,
    pub timeout: Duration,
    pub summary: String,
    /// Part of `--all` and CI (scratch and self-test scenarios are not).
    pub suite: bool,
    /// `cargo xtask fixtures` runs it with RIG_CAPTURE=1 and keeps what it captured.
    pub captures_fixtures: bool,
    /// `cargo xtask test` also runs it with our mdmon (`ours=no` while a feature it needs
    /// is not in our daemon yet).
    pub with_ours: bool,
    /// `original=fails`: the scenario shows a defect of the original mdmon that ours does
    /// not have; `cargo xtask test` requires it to FAIL with the original (which also
    /// proves the scenario can fail) and to pass with ours.
    pub original_fails: bool,
    /// `original=skip`: `cargo xtask test` runs it with ours only (a scenario whose outcome
    /// with the original depends on where a random cut falls: the original has known
    /// defects there). `cargo xtask vm --mdmon original` still runs it.
    pub original_skip: bool,
    /// `install=yes`: the guest gets the `cargo xtask install` tree (mdadm 4.2 flavour,
    /// prefix /usr) under /usr/lib/rig/install, for the early-boot scenarios.
    pub install_tree: bool,
    /// `cut=A-B`: a power cut from the host in boot 1 (see [`Cut`]).
    pub cut: Option<Cut>,
    /// A cpio archive appended to this scenario's per-boot overlay (`cargo xtask vm
    /// --upstream`: bash, mdadm's test suite and its harness); none for tests/vm scenarios.
    pub extra_cpio: Option<PathBuf>,
    /// `debian=2,3`: these boots start the Debian root the scenario's first boot put on an
    /// IMSM RAID1 (its own initramfs, systemd; see `realroot.rs`) instead of the rig's
    /// busybox image. The root's ext4 image is on the last disk.
    pub debian_boots: Vec<u32>,
    /// `debian_install=deb`: with our mdmon, the Debian root gets our package (`cargo
    /// xtask deb`, `dpkg -i`) instead of the `cargo xtask install` tree, and the first
    /// Debian boot purges it again (`realroot.rs`).
    pub debian_deb: bool,
    /// `debian_initramfs=dracut`: the Debian root makes its initramfs with dracut instead
    /// of initramfs-tools.
    pub debian_flavour: crate::realroot::Flavour,
    /// `pull_log=D:S`: disks the guest pulled, as `PULLED <serial>` lines in sector S (and
    /// the 7 after it) of disk D (1-based). From the next boot on each such disk is
    /// physically gone: a blank disk of the same size sits in its place (see
    /// [`attached_disks`]).
    pub pull_log: Option<(usize, u64)>,
}

/// A power cut as the issue defines it: qemu killed from the host (SIGKILL) at a moment
/// drawn from a seed, then the same disk images booted again. The window opens when boot 1
/// prints `RIG_CUT_WINDOW` (the scenario's activity is under way) and the kill falls
/// `from_ms..to_ms` after it. Boot 1 passes only if the kill ended it; the next boot checks
/// what the disks hold. Writes qemu had completed are in the host's page cache and survive,
/// as on a disk that acknowledged them; writes still in flight are lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub from_ms: u64,
    pub to_ms: u64,
    /// `--cut-seed`; drawn from the clock (and printed) when not given.
    pub seed: Option<u64>,
}

impl Cut {
    fn parse(v: &str) -> Option<Cut> {
        let (a, b) = v.split_once('-')?;
        let secs = |t: &str| t.parse::<f64>().ok().map(|x| (x * 1000.0) as u64);
        let (from_ms, to_ms) = (secs(a)?, secs(b)?);
        (to_ms > from_ms).then_some(Cut {
            from_ms,
            to_ms,
            seed: None,
        })
    }

    /// Milliseconds after the window opens at which the seed puts the kill.
    pub fn delay_ms(&self, seed: u64) -> u64 {
        // splitmix64: any seed spreads over the whole window.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.from_ms + z % (self.to_ms - self.from_ms)
    }
}

impl ScenarioSpec {
    pub fn in_suite(&self) -> bool {
        self.suite
    }
}

pub fn list_scenarios(ws: &Workspace) -> Result<Vec<ScenarioSpec>> {
    let mut out = Vec::new();
    let rd = fs::read_dir(ws.scenarios_dir()).map_err(|e| e.to_string())?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .filter(|p| p.file_name().is_some_and(|n| n != "lib.sh"))
        .collect();
    paths.sort();
    for p in paths {
        out.push(parse_spec(&p)?);
    }
    Ok(out)
}

fn parse_spec(path: &Path) -> Result<ScenarioSpec> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut spec = ScenarioSpec {
        name,
        path: path.to_path_buf(),
        disks: 4,
        disk_size: "256M".into(),
        sector: None,
        boots: 1,
        timeout: Duration::from_secs(600),
        summary: String::new(),
        suite: true,
        captures_fixtures: false,
        with_ours: true,
        original_fails: false,
        original_skip: false,
        cut: None,
        install_tree: false,
        extra_cpio: None,
        debian_boots: Vec::new(),
        debian_deb: false,
        debian_flavour: crate::realroot::Flavour::InitramfsTools,
        pull_log: None,
    };
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("# summary: ") {
            spec.summary = s.trim().to_string();
        }
        let Some(rest) = line.strip_prefix("# rig:") else {
            continue;
        };
        for kv in rest.split_whitespace() {
            let (k, v) = kv
                .split_once('=')
                .ok_or(format!("{}: bad rig header {kv}", path.display()))?;
            let bad = |_| format!("{}: bad value in {kv}", path.display());
            match k {
                "disks" => spec.disks = v.parse().map_err(bad)?,
                "disk_size" => spec.disk_size = v.to_string(),
                "sector" => {
                    spec.sector = Some(
                        v.parse()
                            .ok()
                            .filter(|n| *n == 512 || *n == 4096)
                            .ok_or_else(|| {
                                format!("{}: sector=512 or sector=4096, not {v}", path.display())
                            })?,
                    )
                }
                "boots" => spec.boots = v.parse().map_err(bad)?,
                "timeout" => spec.timeout = Duration::from_secs(v.parse().map_err(bad)?),
                "suite" => spec.suite = v == "yes",
                "fixtures" => spec.captures_fixtures = v == "yes",
                "ours" => spec.with_ours = v == "yes",
                "original" => {
                    spec.original_fails = v == "fails";
                    spec.original_skip = v == "skip";
                }
                "cut" => {
                    spec.cut = Some(Cut::parse(v).ok_or_else(|| {
                        format!("{}: cut=A-B (seconds, A < B), not {v}", path.display())
                    })?)
                }
                "install" => spec.install_tree = v == "yes",
                "pull_log" => {
                    spec.pull_log = Some(
                        v.split_once(':')
                            .and_then(|(d, s)| Some((d.parse().ok()?, s.parse().ok()?)))
                            .filter(|&(d, _)| d >= 1)
                            .ok_or_else(|| {
                                format!("{}: pull_log=DISK:SECTOR, not {v}", path.display())
                            })?,
                    )
                }
                "debian_install" => spec.debian_deb = v == "deb",
                "debian_initramfs" => {
                    spec.debian_flavour = match v {
                        "dracut" => crate::realroot::Flavour::Dracut,
                        "initramfs-tools" => crate::realroot::Flavour::InitramfsTools,
                        _ => {
                            return Err(format!(
                                "{}: debian_initramfs=initramfs-tools or dracut, not {v}",
                                path.display()
                            ))
                        }
                    }
                }
                // systemd is the default; sysvinit comes with initramfs-tools.
                "debian_init" if v == "sysvinit" => {
                    spec.debian_flavour = crate::realroot::Flavour::SysV
                }
                "debian_init" => {
                    return Err(format!(
                        "{}: debian_init=sysvinit (systemd is the default), not {v}",
                        path.display()
                    ))
                }
                "debian" => {
                    spec.debian_boots = v
                        .split(',')
                        .map(|b| b.parse::<u32>().map_err(bad))
                        .collect::<Result<_>>()?
                }
                _ => return Err(format!("{}: unknown rig key {k}", path.display())),
            }
        }
    }
    Ok(spec)
}

/// The disk images boot `boot` gets: the run's disks, except that a disk the guest pulled
/// in an earlier boot (`pull_log`) is replaced by a blank one of the same size, as a
/// physically removed disk would be. The pulled disk's image itself is left untouched
/// (a failed run keeps it). Pulling is decided by the guest before it removes the disk
/// from its array, so a power cut in between cannot bring the removed disk back with
/// stale metadata.
fn attached_disks(
    spec: &ScenarioSpec,
    disks: &[PathBuf],
    dir: &Path,
    boot: u32,
    quiet: bool,
) -> Result<Vec<PathBuf>> {
    let mut attached = disks.to_vec();
    let Some((log_disk, sector)) = spec.pull_log.filter(|_| boot > 1) else {
        return Ok(attached);
    };
    let log = disks
        .get(log_disk - 1)
        .ok_or_else(|| format!("{}: pull_log names disk {log_disk}", spec.name))?;
    let mut f = fs::File::open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut buf = vec![0u8; 8 * 512];
    f.seek(SeekFrom::Start(sector * 512))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| format!("{}: reading the pull log: {e}", log.display()))?;
    for line in String::from_utf8_lossy(&buf).split(['\n', '\0']) {
        let Some(n) = line
            .strip_prefix("PULLED MDRS")
            .and_then(|n| n.trim().parse::<usize>().ok())
        else {
            continue;
        };
        let Some(slot) = n.checked_sub(1).filter(|&i| i < disks.len()) else {
            return Err(format!("{}: pull log names disk MDRS{n:04}", spec.name));
        };
        // One blank disk per pulled disk for the rest of the run: what later boots write
        // to it stays.
        let blank = dir.join(format!("pulled-{n}.img"));
        if !blank.exists() {
            let len = fs::metadata(&disks[slot]).map_err(|e| e.to_string())?.len();
            let b = fs::File::create(&blank).map_err(|e| format!("{}: {e}", blank.display()))?;
            b.set_len(len).map_err(|e| e.to_string())?;
        }
        if !quiet {
            eprintln!(
                "rig: MDRS{n:04} was pulled in an earlier boot: boot {boot} has a blank disk in its place"
            );
        }
        attached[slot] = blank;
    }
    Ok(attached)
}

fn disk_size_bytes(s: &str) -> Result<u64> {
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|e| format!("disk size {s}: {e}"))
}

/// Whether real KVM can run a stock kernel here. kvm-pvm (a paravirtualised nested
/// hypervisor) exposes /dev/kvm but hangs a stock kernel in the decompressor.
pub fn accel() -> (&'static str, &'static str) {
    if Path::new("/sys/module/kvm_pvm").exists() {
        return (
            "tcg",
            "TCG (/dev/kvm is kvm-pvm, which cannot run a stock kernel)",
        );
    }
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
    {
        return ("kvm", "KVM");
    }
    ("tcg", "TCG (no usable /dev/kvm)")
}

#[derive(Clone)]
pub struct RunOptions {
    pub mdmon: Mdmon,
    pub our_mdmon: Option<PathBuf>,
    pub keep: bool,
    pub quiet: bool,
    pub extra_env: Vec<(String, String)>,
    /// `--client VER`: an upstream mdadm release from `../shared/clients/mdadm-VER` replaces
    /// Debian's 4.2 in the guest, and its C mdmon is "the original".
    pub client: Option<Client>,
}

/// An upstream mdadm release, built unmodified, and the C mdmon of the same release.
#[derive(Clone, Debug)]
pub struct Client {
    pub version: String,
    pub mdadm: PathBuf,
    pub mdmon: PathBuf,
}

impl Client {
    /// `mdadm-VER` under `$MDMON_RS_CLIENTS` if set, else under `../shared/clients` beside
    /// the checkout, else under `tests/clients` (4.6 only, for CI: tests/clients/README.md).
    pub fn find(ws: &Workspace, version: &str) -> Result<Client> {
        let roots: Vec<PathBuf> = match std::env::var_os("MDMON_RS_CLIENTS") {
            Some(r) => vec![PathBuf::from(r)],
            None => vec![
                ws.root.join("../shared/clients"),
                ws.root.join("tests/clients"),
            ],
        };
        let mut tried = Vec::new();
        for root in &roots {
            let dir = root.join(format!("mdadm-{version}"));
            let client = Client {
                version: version.to_string(),
                mdadm: dir.join("mdadm"),
                mdmon: dir.join("mdmon"),
            };
            if client.mdadm.is_file() && client.mdmon.is_file() {
                return Ok(client);
            }
            tried.push(dir.display().to_string());
        }
        Err(format!(
            "no mdadm client {version}: none of {} holds `mdadm` and `mdmon` (set MDMON_RS_CLIENTS)",
            tried.join(", ")
        ))
    }
}

pub struct RunResult {
    pub ok: bool,
    pub dir: PathBuf,
    pub elapsed: Duration,
    pub console: String,
}

pub fn run_scenario(
    ws: &Workspace,
    image: &GuestImage,
    spec: &ScenarioSpec,
    opts: &RunOptions,
) -> Result<RunResult> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mdmon_tag = match opts.mdmon {
        Mdmon::Original => "original",
        Mdmon::Ours => "ours",
    };
    let dir = ws
        .rig_dir()
        .join("runs")
        .join(format!("{}-{mdmon_tag}-{stamp}", spec.name));
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let size = disk_size_bytes(&spec.disk_size)?;
    let mut disks = Vec::new();
    // `RIG_PREPARED_DISK0=PATH` in the run's environment: that file becomes disk 0 as it is
    // (moved in), instead of an empty disk (`cargo xtask crash --verify`).
    let prepared = opts
        .extra_env
        .iter()
        .find(|(k, _)| k == "RIG_PREPARED_DISK0")
        .map(|(_, v)| PathBuf::from(v));
    for i in 0..spec.disks {
        let p = dir.join(format!("disk{i}.img"));
        match (&prepared, i) {
            (Some(from), 0) => fs::rename(from, &p)
                .map_err(|e| format!("{} -> {}: {e}", from.display(), p.display()))?,
            _ => {
                let f = fs::File::create(&p).map_err(|e| e.to_string())?;
                f.set_len(size).map_err(|e| e.to_string())?;
            }
        }
        disks.push(p);
    }
    let out = dir.join("out");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    // The Debian root's image on the last disk, its initramfs beside the run.
    let debian_initrd = match (spec.debian_boots.is_empty(), disks.last()) {
        (false, Some(last)) => {
            if !opts.quiet {
                eprintln!("rig: {}: preparing the Debian root", spec.name);
            }
            let daemon = crate::realroot::Daemon::for_run(
                opts.mdmon,
                opts.our_mdmon.as_deref(),
                spec.debian_deb,
            )?;
            let initrd = crate::realroot::prepare_run(
                ws,
                &image.kernel_version,
                spec.debian_flavour,
                &daemon,
                opts.client.as_ref(),
                &dir,
                last,
                crate::realroot::ROOT_MIB << 20,
            )?;
            let f = fs::OpenOptions::new()
                .write(true)
                .open(last)
                .map_err(|e| e.to_string())?;
            if f.metadata().map_err(|e| e.to_string())?.len() < size {
                f.set_len(size).map_err(|e| e.to_string())?;
            }
            Some(initrd)
        }
        _ => None,
    };
    let install_tree = if spec.install_tree {
        Some(crate::install::tree_for_rig(ws)?)
    } else {
        None
    };
    let (accel, why) = accel();
    let started = Instant::now();
    let mut console = String::new();
    let mut ok = true;
    for boot in 1..=spec.boots {
        // A fresh outbox per boot; what every boot left is unpacked into `out/`.
        let outbox = dir.join(format!("outbox-{boot}.img"));
        let f = fs::File::create(&outbox).map_err(|e| e.to_string())?;
        f.set_len(64 << 20).map_err(|e| e.to_string())?;
        drop(f);
        let debian = debian_initrd
            .as_ref()
            .filter(|_| spec.debian_boots.contains(&boot));
        let initrd = match debian {
            // As a boot loader would: the root's current initramfs, read from the first
            // member (the RAID1's data starts at its sector 0); the first Debian boot's is
            // the one built on the host (the same file, before any boot changed it).
            Some(first) if spec.debian_boots.first() == Some(&boot) => first.clone(),
            Some(_) => crate::realroot::initrd_from_disk(
                &disks[0],
                &image.kernel_version,
                &dir.join(format!("debian-initrd-{boot}.img")),
            )?,
            None => {
                let initrd = dir.join("initrd.cpio");
                build_overlay(
                    ws,
                    image,
                    spec,
                    opts,
                    boot,
                    install_tree.as_deref(),
                    &initrd,
                )?;
                initrd
            }
        };
        // A Debian boot: the root's own initramfs finds the root by its label; the check
        // unit in the root reads which boot this is from the command line.
        let append = match debian {
            Some(_) => format!(
                "root=LABEL={} ro console=ttyS0 panic=-1 scsi_mod.scan=sync rig.boot={boot}{}",
                crate::realroot::ROOT_LABEL,
                spec.debian_flavour.cmdline()
            ),
            None => {
                "console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init quiet scsi_mod.scan=sync"
                    .to_string()
            }
        };
        if !opts.quiet {
            eprintln!(
                "rig: {} boot {boot}/{} mdmon={mdmon_tag} accel={why} disks={}x{}",
                spec.name, spec.boots, spec.disks, spec.disk_size
            );
        }
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", accel]);
        if accel == "tcg" {
            cmd.args(["-cpu", "max"]);
        } else {
            cmd.args(["-cpu", "host"]);
        }
        cmd.args([
            "-smp",
            "2",
            "-m",
            "1536",
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-serial", "stdio", "-monitor", "none"])
        .arg("-kernel")
        .arg(&image.kernel)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(&append)
        .args(["-device", "virtio-scsi-pci,id=scsi0"]);
        // `RIG_DISK_IOPS=N` in the run's environment (`cargo xtask vm --disk-iops N`): qemu
        // throttles every member disk to N requests a second, invisibly to the guest, so
        // metadata writes take long and a power cut falls inside them more often.
        let throttle = opts
            .extra_env
            .iter()
            .find(|(k, _)| k == "RIG_DISK_IOPS")
            .and_then(|(_, v)| v.parse::<u32>().ok())
            .map(|n| format!(",throttling.iops-total={n}"))
            .unwrap_or_default();
        let sector = spec
            .sector
            .map(|n| format!(",logical_block_size={n},physical_block_size={n}"))
            .unwrap_or_default();
        let attached = attached_disks(spec, &disks, &dir, boot, opts.quiet)?;
        for (i, d) in attached.iter().enumerate() {
            cmd.arg("-drive")
                .arg(format!(
                    "file={},if=none,id=d{i},format=raw,cache=writeback{throttle}",
                    d.display()
                ))
                .arg("-device")
                .arg(format!(
                    "scsi-hd,drive=d{i},bus=scsi0.0,channel=0,scsi-id={i},lun=0,serial=MDRS{:04}{sector}",
                    i + 1
                ));
        }
        cmd.arg("-drive")
            .arg(format!(
                "file={},if=none,id=outbox,format=raw",
                outbox.display()
            ))
            .args(["-device", "virtio-blk-pci,drive=outbox,serial=RIGOUTBOX"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
        let pid = child.id();
        let finished = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let finished = finished.clone();
            let timed_out = timed_out.clone();
            let deadline = Instant::now() + spec.timeout;
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    if finished.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                timed_out.store(true, Ordering::SeqCst);
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            })
        };
        let mut status: Option<i32> = None;
        // Boot 1 of a `cut=` scenario: the host kills qemu once the window has opened.
        let cut = spec.cut.filter(|_| boot == 1);
        let cut_seed = cut.map(|c| c.seed.unwrap_or(stamp as u64));
        let cut_done = Arc::new(AtomicBool::new(false));
        let mut cut_armed = false;
        let stdout = child.stdout.take().ok_or("no qemu stdout")?;
        let mut stderr = child.stderr.take().ok_or("no qemu stderr")?;
        let mut log =
            fs::File::create(dir.join(format!("console-{boot}.log"))).map_err(|e| e.to_string())?;
        for line in BufReader::new(stdout).split(b'\n') {
            let line = line.map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches('\r');
            let _ = writeln!(log, "{text}");
            if !opts.quiet {
                println!("{text}");
            }
            console.push_str(text);
            console.push('\n');
            if let (Some(c), Some(seed), false) = (cut, cut_seed, cut_armed) {
                if text.contains("RIG_CUT_WINDOW") {
                    cut_armed = true;
                    let delay = c.delay_ms(seed);
                    let line = format!(
                        "rig: power cut: seed {seed}, qemu killed {delay} ms into the window ({}-{} ms)",
                        c.from_ms, c.to_ms
                    );
                    eprintln!("{line}");
                    let _ = fs::write(out.join("cut.txt"), format!("{line}\n"));
                    let cut_done = cut_done.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(delay));
                        cut_done.store(true, Ordering::SeqCst);
                        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                    });
                }
            }
            if let Some(pos) = text.find("RIG_EXIT_STATUS=") {
                let digits: String = text[pos + 16..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                status = digits.parse().ok();
            }
        }
        let _ = child.wait();
        finished.store(true, Ordering::SeqCst);
        let _ = watchdog.join();
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        if !err.trim().is_empty() {
            eprintln!("qemu: {}", err.trim());
        }
        // Unpack what the guest left in the outbox (a tar stream on the raw disk).
        let _ = Command::new("tar")
            .arg("-xf")
            .arg(&outbox)
            .arg("-C")
            .arg(&out)
            .stderr(Stdio::null())
            .status();
        if !opts.keep {
            let _ = fs::remove_file(&outbox);
        }
        let boot_ok = if cut.is_some() {
            // The boot must have been ended by the cut, not by itself or a failure first.
            let killed = cut_done.load(Ordering::SeqCst) && status.is_none();
            if !killed {
                eprintln!(
                    "rig: {} boot {boot}: {}",
                    spec.name,
                    match (cut_armed, status) {
                        (false, _) => "the guest never opened the cut window (RIG_CUT_WINDOW)",
                        (true, Some(0)) => "the boot ended before the cut fell",
                        _ => "the boot failed before the cut fell",
                    }
                );
            }
            killed && !timed_out.load(Ordering::SeqCst)
        } else {
            status == Some(0) && !timed_out.load(Ordering::SeqCst)
        };
        if timed_out.load(Ordering::SeqCst) {
            eprintln!(
                "rig: {} boot {boot}: timed out after {:?}",
                spec.name, spec.timeout
            );
        } else if status.is_none() && cut.is_none() {
            eprintln!(
                "rig: {} boot {boot}: the guest ended without an exit status",
                spec.name
            );
        }
        if !boot_ok {
            ok = false;
            break;
        }
    }
    // A failed power-cut run keeps its disk images: the cut's moment is not exactly
    // repeatable under TCG even with its seed, so the images are the evidence.
    if !opts.keep && (ok || spec.cut.is_none()) {
        for d in &disks {
            let _ = fs::remove_file(d);
        }
        // The blank disks that stood in for pulled ones (`attached_disks`).
        for n in 1..=disks.len() {
            let _ = fs::remove_file(dir.join(format!("pulled-{n}.img")));
        }
        let _ = fs::remove_file(dir.join("initrd.cpio"));
    } else if !ok {
        eprintln!("rig: {}: disk images kept in {}", spec.name, dir.display());
    }
    Ok(RunResult {
        ok,
        dir,
        elapsed: started.elapsed(),
        console,
    })
}

fn build_overlay(
    ws: &Workspace,
    image: &GuestImage,
    spec: &ScenarioSpec,
    opts: &RunOptions,
    boot: u32,
    install_tree: Option<&Path>,
    dest: &Path,
) -> Result<()> {
    let mut data = fs::read(&image.base_cpio).map_err(|e| e.to_string())?;
    let mut cpio = CpioWriter::new(Vec::new());
    let vm = ws.scenarios_dir();
    let read = |p: &Path| fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    cpio.file("init", 0o755, &read(&vm.join("init"))?)
        .map_err(|e| e.to_string())?;
    cpio.file("rig/lib.sh", 0o644, &read(&vm.join("lib.sh"))?)
        .map_err(|e| e.to_string())?;
    cpio.file("rig/scenario.sh", 0o755, &read(&spec.path)?)
        .map_err(|e| e.to_string())?;
    let mdmon_tag = match opts.mdmon {
        Mdmon::Original => "original",
        Mdmon::Ours => "ours",
    };
    let mut env = format!(
        "RIG_SCENARIO={}\nRIG_BOOT={boot}\nRIG_BOOTS={}\nRIG_DISKS={}\nRIG_MDMON={mdmon_tag}\n",
        spec.name, spec.boots, spec.disks
    );
    if let Some(c) = &opts.client {
        // The overlay comes after the base image, so these replace Debian's 4.2 binaries
        // (`init` sets MDADM_NO_SYSTEMCTL for 4.3+, which would first ask systemd).
        env.push_str(&format!("RIG_CLIENT={}\n", c.version));
        let mdadm = read(&c.mdadm)?;
        let mdmon = read(&c.mdmon)?;
        cpio.file("sbin/mdadm", 0o755, &mdadm)
            .map_err(|e| e.to_string())?;
        cpio.file("usr/lib/rig/mdmon.orig", 0o755, &mdmon)
            .map_err(|e| e.to_string())?;
        if opts.mdmon == Mdmon::Original {
            cpio.file("sbin/mdmon", 0o755, &mdmon)
                .map_err(|e| e.to_string())?;
        }
    }
    if !spec.debian_boots.is_empty() {
        env.push_str(&format!("RIG_ROOT_MIB={}\n", crate::realroot::ROOT_MIB));
    }
    for (k, v) in &opts.extra_env {
        env.push_str(&format!("{k}={v}\n"));
    }
    cpio.file("rig/env", 0o644, env.as_bytes())
        .map_err(|e| e.to_string())?;
    cpio.file("usr/bin/rig-probe", 0o755, &read(&image.probe)?)
        .map_err(|e| e.to_string())?;
    if let Some(ours) = &opts.our_mdmon {
        let bin = read(ours)?;
        cpio.file("usr/lib/rig/mdmon.ours", 0o755, &bin)
            .map_err(|e| e.to_string())?;
        if opts.mdmon == Mdmon::Ours {
            cpio.file("sbin/mdmon", 0o755, &bin)
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(tree) = install_tree {
        cpio.dir("usr/lib/rig/install").map_err(|e| e.to_string())?;
        add_tree(&mut cpio, tree, "usr/lib/rig/install")?;
    }
    data.extend_from_slice(&cpio.finish().map_err(|e| e.to_string())?);
    if let Some(extra) = &spec.extra_cpio {
        data.extend_from_slice(&read(extra)?);
    }
    fs::write(dest, data).map_err(|e| e.to_string())
}

/// Adds the directory tree `src` under `dest` (directories before their contents, as the
/// kernel's unpacker needs; modes and symlinks kept).
pub(crate) fn add_tree(cpio: &mut CpioWriter<Vec<u8>>, src: &Path, dest: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = fs::read_dir(src)
        .map_err(|e| format!("{}: {e}", src.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = format!("{dest}/{}", e.file_name().to_string_lossy());
        let meta = fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|e| e.to_string())?;
            cpio.symlink(&name, &target.to_string_lossy())
                .map_err(|e| e.to_string())?;
        } else if meta.is_dir() {
            cpio.dir(&name).map_err(|e| e.to_string())?;
            add_tree(cpio, &path, &name)?;
        } else {
            let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            cpio.file(&name, meta.permissions().mode() & 0o7777, &data)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_the_guest_pulled_is_blank_from_the_next_boot_on() {
        let dir = std::env::temp_dir().join(format!("rig-pull-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let script = dir.join("pulls.sh");
        fs::write(
            &script,
            "# summary: t\n# rig: disks=3 boots=2 pull_log=3:8\n",
        )
        .unwrap();
        let spec = parse_spec(&script).unwrap();
        assert_eq!(spec.pull_log, Some((3, 8)));
        let disks: Vec<PathBuf> = (0..3)
            .map(|i| {
                let p = dir.join(format!("disk{i}.img"));
                fs::write(&p, vec![7u8; 64 * 512]).unwrap();
                p
            })
            .collect();
        assert_eq!(attached_disks(&spec, &disks, &dir, 2, true).unwrap(), disks);
        // The guest records that it pulled the second disk (serial MDRS0002).
        let mut log = fs::OpenOptions::new().write(true).open(&disks[2]).unwrap();
        log.seek(SeekFrom::Start(8 * 512)).unwrap();
        log.write_all(b"PULLED MDRS0002\n\0\0").unwrap();
        drop(log);
        assert_eq!(
            attached_disks(&spec, &disks, &dir, 1, true).unwrap(),
            disks,
            "the boot that pulled it still had it"
        );
        let got = attached_disks(&spec, &disks, &dir, 2, true).unwrap();
        assert_eq!((&got[0], &got[2]), (&disks[0], &disks[2]));
        assert_ne!(got[1], disks[1]);
        assert_eq!(fs::metadata(&got[1]).unwrap().len(), 64 * 512);
        assert!(fs::read(&got[1]).unwrap().iter().all(|&b| b == 0));
        assert!(
            fs::read(&disks[1]).unwrap().iter().all(|&b| b == 7),
            "the pulled disk's image is kept"
        );
        // A later boot gets the same blank disk, with what the boot before wrote to it.
        fs::write(&got[1], vec![9u8; 64 * 512]).unwrap();
        let again = attached_disks(&spec, &disks, &dir, 3, true).unwrap();
        assert_eq!(again[1], got[1]);
        assert!(fs::read(&again[1]).unwrap().iter().all(|&b| b == 9));
        let _ = fs::remove_dir_all(&dir);
    }
}
