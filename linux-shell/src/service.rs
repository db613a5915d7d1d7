//! What the daemon does between the process life (daemon.rs) and the run-time machinery
//! (the monitor thread and the manager in `mdmon::runtime`).
//!
//! daemon.rs calls exactly two functions:
//!
//! 1. [`prepare`] in the forked child, before any run-time file exists (docs/process.md,
//!    "Start sequence", steps 3–7 and 12): the container's sysfs facts and its metadata,
//!    loaded from every member disk. An error is printed by daemon.rs and the child exits 3,
//!    which the launcher passes on as its own exit status.
//! 2. [`run`] once the pid file and the control socket exist and the launcher has been told
//!    "ready" (steps 18 onward: the caller has already done mlockall, setsid and the stdio
//!    redirection): starts the monitor thread, then runs the manager loop. It never returns.

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

use crate::control::{ControlHandler, ControlServer};
use crate::runfiles::{RunFiles, Victim};
use mdmon::runtime::ddf::Ddf;
use mdmon::runtime::disk::{AlignedBuf, MetadataWriter};
use mdmon::runtime::format::{DiskNode, Format, LoadedContainer, MemberDiskInfo};
use mdmon::runtime::imsm::Imsm;
use mdmon::runtime::manager::Manager;
use mdmon::runtime::monitor::Monitor;
use mdmon::runtime::wake::Wake;
use mdmon::runtime::{FromMonitor, Shared, ToMonitor, QUEUE_LEN};
use mdmon_core::handler::ddf::DdfMetadata;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::ContainerMetadata;
use std::os::fd::BorrowedFd;

/// The metadata format of a container (`external:<fmt>` in `md/metadata_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFormat {
    Imsm,
    Ddf,
}

/// One member disk of the container, as sysfs lists it under `md/dev-<kname>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDisk {
    /// Kernel name (`sda`, `nvme0n1`): the directory is `md/dev-<kname>`.
    pub kname: String,
    pub major: u32,
    pub minor: u32,
    /// `md/dev-<kname>/slot`; `None` when it reads `none` (spares; always so in a container).
    pub slot: Option<u32>,
}

/// Everything the child learned about the container before going live.
#[derive(Debug)]
pub struct Prepared {
    pub devnm: String,
    pub format: MetadataFormat,
    pub members: Vec<MemberDisk>,
    /// The loaded metadata (the handler state of its format).
    pub metadata: LoadedMetadata,
}

/// What [`load_metadata`] produced: the handler state of the container's format and its
/// open disks (DDF also keeps its manager side, which maps disk numbers to DDF ids).
#[derive(Debug, Default)]
pub struct LoadedMetadata {
    imsm: Option<LoadedContainer<ImsmMetadata>>,
    ddf: Option<(Ddf, LoadedContainer<DdfMetadata>)>,
}

/// Why the container cannot be monitored (the child exits 3 after printing it).
#[derive(Debug)]
pub enum StartError {
    /// An attribute the start needs could not be read.
    Sysfs {
        devnm: String,
        path: PathBuf,
        error: io::Error,
    },
    /// `md/level` is not empty: a real array, not a container.
    NotAContainer { devnm: String },
    /// `md/metadata_version` is not `external:...`.
    NotExternal { devnm: String },
    /// `external:<fmt>` with a format we have no handler for (or a member array's version).
    Unsupported { devnm: String, version: String },
    /// The handler could not load the metadata from the member disks.
    LoadMetadata { devnm: String, reason: String },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Upstream's wording, plus the path or reason where it had none.
        match self {
            StartError::Sysfs { devnm, path, error } => write!(
                f,
                "failed to load sysfs info for {devnm} ({}: {error})",
                path.display()
            ),
            StartError::NotAContainer { devnm } => {
                write!(f, "{devnm} is not a container - cannot monitor")
            }
            StartError::NotExternal { devnm } => {
                write!(f, "{devnm} does not use external metadata - cannot monitor")
            }
            StartError::Unsupported { devnm, version } => {
                write!(f, "{devnm} uses unsupported metadata: {version}")
            }
            StartError::LoadMetadata { devnm, reason } => {
                write!(f, "Cannot load metadata for {devnm}: {reason}")
            }
        }
    }
}

/// Reads the container's sysfs description and loads its metadata (docs/process.md, "Start
/// sequence", steps 3–7, 12).
///
/// Upstream loads the metadata (step 12) only after the "already managed" ping (step 11);
/// doing it here, earlier, only reads the member disks, so a start that then finds a live
/// mdmon has merely wasted that read.
pub fn prepare(devnm: &str) -> Result<Prepared, StartError> {
    let mut prepared = read_container(Path::new("/sys"), devnm)?;
    prepared.metadata = load_metadata(&prepared)?;
    Ok(prepared)
}

/// Step 12 of the start (docs/process.md, "Start sequence"): read the metadata of every member
/// disk and keep them open for writes.
fn load_metadata(prepared: &Prepared) -> Result<LoadedMetadata, StartError> {
    let err = |reason: String| StartError::LoadMetadata {
        devnm: prepared.devnm.clone(),
        reason,
    };
    let mut nodes = Vec::new();
    let mut infos = Vec::new();
    for m in &prepared.members {
        let node = DiskNode::new(&m.kname, m.major, m.minor)
            .map_err(|e| err(format!("{}: {e}", m.kname)))?;
        infos.push(MemberDiskInfo {
            kname: m.kname.clone(),
            major: m.major,
            minor: m.minor,
            path: node.path.clone(),
        });
        nodes.push(node);
    }
    // The temporary nodes are unlinked when `nodes` drops; the opened fds stay valid.
    match prepared.format {
        MetadataFormat::Imsm => {
            let loaded = Imsm.load(&infos).map_err(err)?;
            Ok(LoadedMetadata {
                imsm: Some(loaded),
                ddf: None,
            })
        }
        MetadataFormat::Ddf => {
            let mut ddf = Ddf::new(&prepared.devnm);
            let loaded = ddf.load(&infos).map_err(err)?;
            Ok(LoadedMetadata {
                imsm: None,
                ddf: Some((ddf, loaded)),
            })
        }
    }
}

fn read_attr(sys: &Path, devnm: &str, rel: &str) -> Result<String, StartError> {
    let path = sys.join("block").join(devnm).join(rel);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim_end_matches('\n').to_owned()),
        Err(error) => Err(StartError::Sysfs {
            devnm: devnm.to_owned(),
            path,
            error,
        }),
    }
}

fn read_container(sys: &Path, devnm: &str) -> Result<Prepared, StartError> {
    let version = read_attr(sys, devnm, "md/metadata_version")?;
    let level = read_attr(sys, devnm, "md/level")?;
    let members = read_members(sys, devnm)?;
    if !level.is_empty() {
        return Err(StartError::NotAContainer {
            devnm: devnm.to_owned(),
        });
    }
    let Some(fmt) = version.strip_prefix("external:") else {
        return Err(StartError::NotExternal {
            devnm: devnm.to_owned(),
        });
    };
    // Exact names only, as util.c `version_to_superswitch()` compares them.
    let format = match fmt {
        "imsm" => MetadataFormat::Imsm,
        "ddf" => MetadataFormat::Ddf,
        _ => {
            return Err(StartError::Unsupported {
                devnm: devnm.to_owned(),
                version: fmt.to_owned(),
            })
        }
    };
    Ok(Prepared {
        devnm: devnm.to_owned(),
        format,
        members,
        metadata: LoadedMetadata::default(),
    })
}

fn read_members(sys: &Path, devnm: &str) -> Result<Vec<MemberDisk>, StartError> {
    let md = sys.join("block").join(devnm).join("md");
    let sysfs_err = |path: PathBuf, error| StartError::Sysfs {
        devnm: devnm.to_owned(),
        path,
        error,
    };
    let entries = fs::read_dir(&md).map_err(|e| sysfs_err(md.clone(), e))?;
    let mut members = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| sysfs_err(md.clone(), e))?;
        let name = entry.file_name();
        let Some(kname) = name.to_str().and_then(|n| n.strip_prefix("dev-")) else {
            continue;
        };
        let rel = format!("md/dev-{kname}");
        let dev = read_attr(sys, devnm, &format!("{rel}/block/dev"))?;
        let Some((major, minor)) = parse_dev(&dev) else {
            return Err(sysfs_err(
                md.join(format!("dev-{kname}/block/dev")),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not MAJOR:MINOR: {dev:?}"),
                ),
            ));
        };
        let slot = read_attr(sys, devnm, &format!("{rel}/slot"))?.parse().ok();
        members.push(MemberDisk {
            kname: kname.to_owned(),
            major,
            minor,
            slot,
        });
    }
    members.sort_by(|a, b| a.kname.cmp(&b.kname));
    Ok(members)
}

fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (ma, mi) = text.trim().split_once(':')?;
    Some((ma.parse().ok()?, mi.parse().ok()?))
}

/// What [`run`] gets from daemon.rs.
#[derive(Debug)]
pub struct RunContext {
    pub prepared: Prepared,
    /// The control socket; `None` when it could not be created (not fatal; docs/process.md,
    /// "Start sequence", step 16).
    pub control: Option<ControlServer>,
    /// A previous mdmon of this container to replace once our threads run
    /// (docs/process.md, "Taking over").
    pub victim: Option<Victim>,
    /// SIGTERM and SIGUSR1, blocked in every thread and delivered only here.
    pub signals: SignalFd,
    /// The pid and socket paths: removed on a normal exit, kept on a SIGTERM exit.
    pub files: RunFiles,
}

/// Runs the daemon (docs/process.md, "Start sequence", steps 19 onward). Never returns.
///
pub fn run(mut ctx: RunContext) -> ! {
    if let Some(loaded) = ctx.prepared.metadata.imsm.take() {
        let sync_len = loaded.meta.sync_buffer_len();
        run_container(ctx, Imsm, loaded, sync_len);
    }
    if let Some((mut ddf, loaded)) = ctx.prepared.metadata.ddf.take() {
        // Sized for the disks present (joining disks bring a larger one): not for 32.
        let sync_len = ddf.sync_buffer_len(&loaded.meta);
        run_container(ctx, ddf, loaded, sync_len);
    }
    // `prepare` loads one of the two or fails (the child then exits 3 before going live).
    let devnm = ctx.prepared.devnm.clone();
    log!(devnm, "no metadata loaded; exiting");
    ctx.files.remove(&devnm);
    std::process::exit(3)
}

/// Stack of the monitor thread: fixed, small, and locked by mlockall like everything else
/// (upstream asks for 4 KiB and silently gets glibc's 8 MiB). The IMSM snapshot copy is the
/// largest thing on it (see `ContainerMetadata::snapshot_into`).
const MONITOR_STACK: usize = 1 << 20;
/// The longest the manager waits without a pass over /proc/mdstat while an array waits for
/// a spare (docs/manager.md, "The loop").
const IDLE_RESCAN: Duration = Duration::from_secs(5);

/// How long the exit check waits for the monitor to hand back arrays that left
/// /proc/mdstat (its final clean write and `clear`) before it asks the monitor to stop
/// anyway: a record the monitor never deactivates (an array that vanished before it ever
/// ran) must not keep the daemon alive. The monitor is still stopped only between passes.
const MONITOR_RELEASE_GRACE: Duration = Duration::from_secs(5);

/// Runs a container whose format has a full handler: the monitor thread plus the manager
/// loop in this thread (docs/process.md, "Start sequence", steps 19 onward; docs/manager.md, "The loop").
fn run_container<F: Format>(
    ctx: RunContext,
    format: F,
    loaded: LoadedContainer<F::Meta>,
    sync_len: usize,
) -> !
where
    F::Meta: 'static,
    <F::Meta as ContainerMetadata>::Update: Send,
    <F::Meta as ContainerMetadata>::Snapshot: Send,
{
    let RunContext {
        prepared,
        mut control,
        victim,
        signals,
        files,
    } = ctx;
    let devnm = prepared.devnm.clone();
    let devnm = devnm.as_str();
    let shared = Shared::default();
    let (monitor_wake, manager_wake) = match (Wake::new(), Wake::new()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            log!(devnm, "cannot create wake-up fds: {e}");
            files.remove(devnm);
            std::process::exit(2);
        }
    };
    let sync_buf = match AlignedBuf::new(sync_len) {
        Ok(b) => b,
        Err(e) => {
            log!(devnm, "cannot allocate the metadata buffer: {e}");
            files.remove(devnm);
            std::process::exit(2);
        }
    };
    let mut disks = heapless::Vec::new();
    for d in loaded.disks {
        if disks.push(Box::new(d)).is_err() {
            log!(
                devnm,
                "too many member disks; the rest get no metadata writes"
            );
            break;
        }
    }
    let mut to_monitor: heapless::spsc::Queue<ToMonitor<F::Meta>, QUEUE_LEN> =
        heapless::spsc::Queue::new();
    let mut from_monitor: heapless::spsc::Queue<FromMonitor<F::Meta>, QUEUE_LEN> =
        heapless::spsc::Queue::new();
    let (tx, rx) = to_monitor.split();
    let (mtx, mrx) = from_monitor.split();
    // The AIO context is the manager's to create (the monitor only submits and reaps).
    let writer = MetadataWriter::new();
    if !writer.is_parallel() {
        log!(
            devnm,
            "no AIO context ({}): metadata writes go to one disk after another",
            io::Error::last_os_error()
        );
    }
    let monitor = Monitor {
        meta: loaded.meta,
        sync_buf,
        writer,
        disks,
        arrays: heapless::Vec::new(),
        rx,
        tx: mtx,
        deferred: false,
        wake: &monitor_wake,
        retry_soon: false,
        manager_wake: &manager_wake,
        shared: &shared,
    };
    let container_disks: Vec<(u32, u32)> = prepared
        .members
        .iter()
        .map(|m| (m.major, m.minor))
        .collect();
    let mut manager = Manager::new(
        devnm,
        format,
        &container_disks,
        loaded.snapshot,
        tx,
        mrx,
        &monitor_wake,
        &shared,
    );
    let mut mdstat = match fs::File::open("/proc/mdstat") {
        Ok(f) => f,
        Err(e) => {
            log!(devnm, "cannot open /proc/mdstat: {e}; exiting");
            files.remove(devnm);
            std::process::exit(1);
        }
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("mdmon-monitor".into())
            .stack_size(MONITOR_STACK)
            .spawn_scoped(scope, move || monitor.run());
        if let Err(e) = spawned {
            // docs/process.md, "Start sequence", step 19.
            log!(devnm, "failed to start monitor process: {e}");
            std::process::exit(2);
        }
        log!(
            devnm,
            "monitoring {:?} container with {} member disk(s)",
            prepared.format,
            prepared.members.len()
        );
        let mut text = String::new();
        // When the manager last saw no member array left (the exit check's grace starts).
        let mut empty_since: Option<Instant> = None;
        // Step 20 only now: the two daemons overlap, so writes never wait for nobody.
        if let Some(v) = victim {
            // Discovery first, with the records held back (Manager::hold): once the
            // predecessor has let an array go clean, a write to it waits for us, and then
            // only for the hand-over, not for opening and priming every sysfs file.
            manager.hold();
            match mdstat.read_to_string(&mut text) {
                Ok(_) => manager.manage(&text),
                Err(e) => log!(devnm, "cannot read /proc/mdstat: {e}"),
            }
            v.terminate(devnm);
            manager.release_held();
        }
        let idle_wait = PollTimeout::from(IDLE_RESCAN.as_millis() as u16);
        loop {
            text.clear();
            let read = mdstat
                .rewind()
                .and_then(|_| mdstat.read_to_string(&mut text));
            // Decided after the pass, which may leave an array waiting for a spare: untimed
            // unless something is due or an array waits (then at most IDLE_RESCAN), so an
            // idle daemon never wakes for nothing.
            let mut wait = match &read {
                Ok(_) => {
                    manager.manage(&text);
                    match manager.poll_timeout() {
                        Some(t) => PollTimeout::from(t.min(IDLE_RESCAN).as_millis() as u16),
                        None if manager.waiting() => idle_wait,
                        None => PollTimeout::NONE,
                    }
                }
                Err(e) => {
                    log!(devnm, "cannot read /proc/mdstat: {e}");
                    PollTimeout::from(1000u16)
                }
            };
            if shared
                .monitor_done
                .load(std::sync::atomic::Ordering::Acquire)
            {
                // SIGTERM and every array clean; the successor owns the files (docs/process.md, "Exit").
                log!(
                    devnm,
                    "SIGTERM: arrays clean; exiting, leaving {} and {} in place",
                    files.pid.display(),
                    files.sock.display()
                );
                std::process::exit(0);
            }
            // raid0/linear members need no mdmon (upstream exits once it monitors nothing).
            let members = member_arrays(&text, devnm).saturating_sub(manager.stateless_members());
            if read.is_ok() && members == 0 && manager.tracked_arrays() == 0 {
                // mdstat can drop an array (mdadm's STOP_ARRAY after its ping) before the
                // monitor has passed over it for the last time. It hands the array back
                // after its final write; give it that pass before deciding to exit.
                let held = shared
                    .monitor_arrays
                    .load(std::sync::atomic::Ordering::Acquire);
                let since = *empty_since.get_or_insert_with(Instant::now);
                if held > 0 && since.elapsed() < MONITOR_RELEASE_GRACE {
                    monitor_wake.signal();
                    wait = PollTimeout::from(20u16);
                } else {
                    let gone = match container_in_use(devnm) {
                        Ok(true) => None,
                        Ok(false) => Some("no member arrays left".to_string()),
                        Err(e) => Some(format!("container is gone ({e})")),
                    };
                    match gone {
                        None => wait = PollTimeout::from(100u16),
                        Some(why) => {
                            if held > 0 {
                                log!(
                                    devnm,
                                    "the monitor still holds {held} array(s) no longer in /proc/mdstat"
                                );
                            }
                            shared.request_exit(&monitor_wake, |t| {
                                log!(devnm, "waiting {t:?} for the monitor's metadata write to end before exiting")
                            });
                            log!(devnm, "{why}; exiting");
                            files.remove(devnm);
                            std::process::exit(0);
                        }
                    }
                }
            } else {
                empty_since = None;
            }
            // SAFETY: the wake fd lives as long as this loop.
            let wake_fd = unsafe { BorrowedFd::borrow_raw(manager_wake.raw()) };
            let mut fds = vec![
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(mdstat.as_fd(), PollFlags::POLLPRI),
                PollFd::new(wake_fd, PollFlags::POLLIN),
            ];
            if let Some(c) = &control {
                fds.push(PollFd::new(c.listener_fd(), PollFlags::POLLIN));
            }
            let ready = match poll(&mut fds, wait) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 1,
                Err(e) => {
                    log!(devnm, "poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    1
                }
            };
            // Only the idle wait's timeout makes a periodic pass (shorter waits are due to
            // something the manager itself scheduled).
            manager.set_periodic(ready == 0 && wait == idle_wait);
            let signalled = fds[0].any().unwrap_or(false);
            let client = fds.get(3).and_then(|f| f.any()).unwrap_or(false);
            drop(fds);
            manager_wake.drain();
            manager.drain_monitor();
            if signalled {
                while let Ok(Some(info)) = signals.read_signal() {
                    if info.ssi_signo == Signal::SIGTERM as u32 {
                        log!(devnm, "SIGTERM: driving arrays clean before exiting");
                        manager.sigterm();
                    }
                }
            }
            if client {
                if let Some(c) = control.as_mut() {
                    let mut handler = ManagerControl {
                        manager: &mut manager,
                        mdstat: &mut mdstat,
                    };
                    c.serve_pending(&mut handler);
                }
            }
        }
    })
}

/// The control socket's requests, served by the manager.
struct ManagerControl<'a, 'q, F: Format> {
    manager: &'a mut Manager<'q, F>,
    mdstat: &'a mut fs::File,
}

impl<F: Format> ControlHandler for ManagerControl<'_, '_, F> {
    fn ping_monitor(&mut self) {
        self.manager.ping_monitor();
    }
    fn ping_manager(&mut self) {
        let mut text = String::new();
        if self
            .mdstat
            .rewind()
            .and_then(|_| self.mdstat.read_to_string(&mut text))
            .is_ok()
        {
            self.manager.manage(&text);
        }
        // mdadm pings the manager after removing a disk from the container (its hot-remove);
        // a departure that waited because no member array runs is recorded now, before the
        // reply (docs/manager.md, "Disks joining or leaving the container").
        self.manager.record_departures();
    }
    fn metadata_update(&mut self, payload: Vec<u8>) {
        self.manager.metadata_update(&payload);
    }
}

/// The number of member arrays of `devnm` in a `/proc/mdstat` text: entries whose
/// `super external:` version is `/<devnm>/...` or `-<devnm>/...` (util.c
/// `metadata_container_matches()`).
pub fn member_arrays(mdstat: &str, devnm: &str) -> usize {
    mdstat_entries(mdstat)
        .filter(|(_, version)| {
            version
                .and_then(|v| v.strip_prefix("external:"))
                .and_then(|v| v.strip_prefix('/').or_else(|| v.strip_prefix('-')))
                .and_then(|v| v.strip_prefix(devnm))
                .is_some_and(|v| v.starts_with('/'))
        })
        .count()
}

/// The containers in a `/proc/mdstat` text, in file order: entries whose version is
/// `external:<fmt>` rather than a member array's `external:/...` or `external:-...`.
pub fn containers(mdstat: &str) -> Vec<String> {
    mdstat_entries(mdstat)
        .filter(|(_, version)| {
            version
                .and_then(|v| v.strip_prefix("external:"))
                .is_some_and(|v| !v.starts_with('/') && !v.starts_with('-'))
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// `(devnm, metadata version)` per array entry of `/proc/mdstat`: an entry starts with a
/// line `mdX : ...`, continuation lines are indented, and the version is the word after
/// `super` (absent for native metadata 0.90).
fn mdstat_entries(mdstat: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut entries: Vec<(&str, Option<&str>)> = Vec::new();
    for line in mdstat.lines() {
        if line.starts_with("md") {
            if let Some((name, _)) = line.split_once(" : ") {
                entries.push((name.trim(), None));
            }
        } else if !line.starts_with(|c: char| c.is_whitespace()) {
            // "Personalities", "unused devices": not part of an entry.
            continue;
        }
        if let Some(last) = entries.last_mut() {
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                if w == "super" {
                    last.1 = words.next();
                }
            }
        }
    }
    entries.into_iter()
}

/// Whether someone holds the container open exclusively (mdadm does while it creates or
/// stops member arrays, and mdmon must then stay). `Err` when it cannot be opened for any
/// other reason (gone, being torn down): upstream exits then too.
fn container_in_use(devnm: &str) -> io::Result<bool> {
    match open_container(devnm, libc::O_EXCL) {
        Ok(_) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Opens the container's block device read-only with `extra` flags: through `/dev/<devnm>`
/// when that node is the right device, else through a private temporary node (as upstream's
/// `dev_open()`), so a missing or stale `/dev` does not matter.
fn open_container(devnm: &str, extra: i32) -> io::Result<fs::File> {
    let dev_text = fs::read_to_string(format!("/sys/block/{devnm}/dev"))?;
    let (major, minor) = parse_dev(&dev_text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad dev attribute"))?;
    let rdev = libc::makedev(major, minor);
    let open = |p: &Path| {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(extra | libc::O_CLOEXEC)
            .open(p)
    };
    let node = PathBuf::from(format!("/dev/{devnm}"));
    if let Ok(meta) = fs::metadata(&node) {
        if meta.file_type().is_block_device() && meta.rdev() == rdev {
            return open(&node);
        }
    }
    let tmp = PathBuf::from(format!(
        "/dev/.tmp.md.{}:{major}:{minor}",
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    nix::sys::stat::mknod(
        &tmp,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        rdev,
    )?;
    let result = open(&tmp);
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as the kernel prints them (continuation lines are indented).
    const MDSTAT: &str = r"Personalities : [raid1] [raid6] [raid5] [raid4]
md126 : active (read-only) raid1 sdb[1] sda[0]
      32768 blocks super external:/md127/0 [2/2] [UU]
      	resync=PENDING

md125 : active raid5 sdc[2] sdb[1] sda[0]
      65536 blocks super external:-md127/1 level 5, 128k chunk, algorithm 0 [3/3] [UUU]

md127 : inactive sdc[2](S) sdb[1](S) sda[0](S)
      3315 blocks super external:imsm

md1270 : inactive sdd[0](S)
      532 blocks super external:ddf

md12 : active raid1 sde[1] sdf[0]
      1024 blocks super 1.2 [2/2] [UU]

md5 : active raid1 sdg[1] sdh[0]
      1024 blocks [2/2] [UU]

unused devices: <none>
";

    #[test]
    fn counts_member_arrays_of_one_container() {
        assert_eq!(member_arrays(MDSTAT, "md127"), 2);
        assert_eq!(member_arrays(MDSTAT, "md1270"), 0);
        assert_eq!(member_arrays(MDSTAT, "md12"), 0);
        assert_eq!(member_arrays("", "md127"), 0);
    }

    #[test]
    fn lists_containers_in_file_order() {
        assert_eq!(containers(MDSTAT), vec!["md127", "md1270"]);
    }

    fn fake_container(tag: &str, version: &str, level: &str) -> PathBuf {
        let sys = std::env::temp_dir().join(format!("mdmon-svc-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&sys);
        let md = sys.join("block/md127/md");
        fs::create_dir_all(&md).unwrap();
        fs::write(md.join("metadata_version"), format!("{version}\n")).unwrap();
        fs::write(md.join("level"), format!("{level}\n")).unwrap();
        for (k, dev) in [("sda", "8:0"), ("sdb", "8:16")] {
            fs::create_dir_all(md.join(format!("dev-{k}/block"))).unwrap();
            fs::write(md.join(format!("dev-{k}/block/dev")), format!("{dev}\n")).unwrap();
            fs::write(md.join(format!("dev-{k}/slot")), "none\n").unwrap();
        }
        sys
    }

    #[test]
    fn reads_an_imsm_container() {
        let sys = fake_container("imsm", "external:imsm", "");
        let p = read_container(&sys, "md127").unwrap();
        assert_eq!(p.format, MetadataFormat::Imsm);
        assert_eq!(
            p.members,
            vec![
                MemberDisk {
                    kname: "sda".into(),
                    major: 8,
                    minor: 0,
                    slot: None
                },
                MemberDisk {
                    kname: "sdb".into(),
                    major: 8,
                    minor: 16,
                    slot: None
                },
            ]
        );
        let _ = fs::remove_dir_all(&sys);
        let sys = fake_container("ddf", "external:ddf", "");
        assert_eq!(
            read_container(&sys, "md127").unwrap().format,
            MetadataFormat::Ddf
        );
        let _ = fs::remove_dir_all(&sys);
    }

    #[test]
    fn refuses_what_is_not_a_supported_container() {
        let cases = [
            (
                "raid",
                "external:/md127/0",
                "raid1",
                "md127 is not a container - cannot monitor",
            ),
            (
                "native",
                "1.2",
                "",
                "md127 does not use external metadata - cannot monitor",
            ),
            (
                "other",
                "external:foo",
                "",
                "md127 uses unsupported metadata: foo",
            ),
        ];
        for (tag, version, level, message) in cases {
            let sys = fake_container(tag, version, level);
            let e = read_container(&sys, "md127").unwrap_err();
            assert_eq!(e.to_string(), message);
            let _ = fs::remove_dir_all(&sys);
        }
        let e = read_container(Path::new("/nonexistent-sys"), "md127").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("failed to load sysfs info for md127 ("),
            "{e}"
        );
    }
}
