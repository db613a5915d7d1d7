//! The manager's side of a running container: finding member arrays and handing complete
//! records to the monitor, taking retired ones back, queueing metadata updates, the ping
//! barrier, member removal, and the SIGTERM hand-over (docs/manager.md).
//!
//! Everything here may allocate, open and block; none of it runs on the monitor thread.

use super::format::{ArrayView, DiskNode, Format, MemberDiskInfo, Snapshot, Update};
use super::sysfs_fd::SysfsAttr;
use super::wake::Wake;
use super::{ArrayBundle, DevName, FromMonitor, MemberFds, Shared, ToMonitor, QUEUE_LEN};
use heapless::spsc::{Consumer, Producer};
use mdmon_core::mdstat;
use mdmon_core::monitor::{ArrayRecord, Member, PassOutcome};
use mdmon_core::sysfs::{self, ArrayState, DiskState};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One diagnostic line on stderr naming the container (journald keeps it; when mdadm
/// started us with stderr on /dev/null it goes to the kernel log). The one place every
/// log line of the daemon passes through (`log!` in main.rs, `mlog!`, `dlog!`).
///
/// Write errors are ignored on purpose: stderr may be a closed pipe or a dead journal
/// stream, and a daemon must not die (std's `eprintln!` panics) because nobody listens.
pub fn log(devnm: &str, msg: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    // One write per line: on /dev/kmsg every write is one record.
    let line = log_line(devnm, msg);
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The text of one log line. An OS error is written `(errno N)`, not Rust's `(os error N)`:
/// tools scan the kernel log for the word "error" (mdadm's test driver fails any test whose
/// dmesg has it; the C mdmon writes nothing there), and a container that went away with
/// `mdadm --stop` is no error.
pub fn log_line(devnm: &str, msg: std::fmt::Arguments<'_>) -> String {
    format!("mdmon {devnm}: {msg}\n").replace("(os error ", "(errno ")
}

#[cfg(test)]
mod log_tests {
    #[test]
    fn os_errors_are_written_as_errno() {
        let e = std::io::Error::from_raw_os_error(2);
        let line = super::log_line("md127", format_args!("container is gone ({e}); exiting"));
        assert_eq!(
            line,
            "mdmon md127: container is gone (No such file or directory (errno 2)); exiting\n"
        );
        assert!(!line.contains("error"), "{line}");
    }
}

macro_rules! mlog {
    ($devnm:expr, $($arg:tt)*) => { log($devnm, format_args!($($arg)*)) };
}

/// What the manager remembers of an array it handed to the monitor.
#[derive(Debug, Clone)]
struct Tracked {
    /// Its volume / virtual-disk number in the metadata.
    inst: u32,
    level: i32,
    /// `safe_mode_delay`, opened while the array is discovered: at SIGTERM the path may no
    /// longer resolve (an initramfs instance is told to go only after switch-root, when its
    /// root has no /sys), and without the 1 ms delay a busy array never goes clean, so the
    /// old instance would never exit (the rig's root-on-raid scenario showed it).
    safe_mode: Option<std::sync::Arc<std::fs::File>>,
    /// Slots of the members the monitor's record holds (a reshape adds some).
    slots: BTreeSet<u32>,
    /// The record was withdrawn (the array became raid0/linear); it is forgotten once the
    /// monitor hands it back.
    withdrawn: bool,
}

pub struct Manager<'q, F: Format> {
    pub container: String,
    format: F,
    tx: Producer<'q, ToMonitor<F::Meta>, QUEUE_LEN>,
    rx: Consumer<'q, FromMonitor<F::Meta>, QUEUE_LEN>,
    monitor_wake: &'q Wake,
    shared: &'q Shared,
    tracked: BTreeMap<String, Tracked>,
    /// raid0/linear members: nothing to do for them (no dirty state).
    ignored: BTreeMap<String, Option<i32>>,
    /// Reshape follow-ups the monitor asked for: array → size (sectors) the metadata wants
    /// the array to have (0: none).
    reshapes: BTreeMap<String, u64>,
    pending: Vec<Update<F>>,
    batch_out: bool,
    /// The manager's copy of the metadata (lent to the monitor while it is refreshed).
    snapshot: Option<Box<Snapshot<F>>>,
    /// Members the monitor handed over for removal: (array, kernel name of the disk).
    removals: Vec<(String, String)>,
    /// Arrays that asked for a spare.
    degraded: BTreeSet<String>,
    /// Container member disks by device number, with their handler ids.
    container_disks: BTreeMap<(u32, u32), u32>,
    next_disk_id: u32,
    /// Disks that left the container while none of its member arrays ran, not yet recorded
    /// in the metadata (device number, handler id): docs/manager.md, "Disks joining or
    /// leaving the container".
    departed: Vec<((u32, u32), u32)>,
    /// `devcnt` of the container in mdstat when its members were last reconciled.
    container_devcnt: Option<u32>,
    sigterm_seen: bool,
    /// The coming pass runs because the wait timed out, not for an md event, a client or
    /// the monitor (docs/manager.md, "The loop"): an array it finds is said to be found so.
    periodic: bool,
    /// Arrays whose last spare check found nothing, with why (logged when it changes:
    /// docs/manager.md, "Arrays waiting for a spare").
    spare_wait: BTreeMap<String, &'static str>,
    /// The error counts of `Shared` as last logged, and when (see `report_errors`).
    reported: ErrorCounts,
    reported_at: Option<Instant>,
    /// Takeover (docs/threads.md, "Taking over from a predecessor"): records built while the
    /// predecessor still runs, handed to the monitor by [`Manager::release_held`] once it has
    /// exited. Building them (opening and priming every sysfs file) before it is told to go
    /// keeps that work out of the write stall of a takeover; holding them keeps two daemons
    /// from ever deciding the same array's metadata. While set, metadata updates stay pending
    /// too.
    held: Option<Vec<Box<ArrayBundle>>>,
}

impl<F: Format> std::fmt::Debug for Manager<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("container", &self.container)
            .field("tracked", &self.tracked)
            .finish_non_exhaustive()
    }
}

/// The shortest time between two error reports (see [`Manager::report_errors`]).
const ERROR_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A wait on the monitor longer than this is logged (docs/manager.md, "The loop").
const SLOW_MONITOR: Duration = Duration::from_secs(10);

/// The error counters of [`Shared`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Failed writes per disk key ([`super::DiskErrors`]).
    pub disks: BTreeMap<u64, u32>,
    pub sync: u32,
    pub refused: u32,
}

impl ErrorCounts {
    fn read(shared: &Shared) -> ErrorCounts {
        ErrorCounts {
            disks: shared.disk_write_errors.entries().collect(),
            sync: shared.sync_errors.load(Ordering::Relaxed),
            refused: shared.op_errors.load(Ordering::Relaxed),
        }
    }
}

/// The log lines for what changed from `was` to `now`: one per disk with new failed
/// writes, one for syncs that could not be prepared, one for refused operations.
pub fn error_lines(
    was: &ErrorCounts,
    now: &ErrorCounts,
    label: impl Fn(u64) -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (&id, &n) in &now.disks {
        let new = n.wrapping_sub(was.disks.get(&id).copied().unwrap_or(0));
        if new > 0 {
            lines.push(format!(
                "{new} metadata write(s) to {} failed ({n} since start)",
                label(id)
            ));
        }
    }
    let new = now.sync.wrapping_sub(was.sync);
    if new > 0 {
        lines.push(format!(
            "{new} metadata sync(s) could not be prepared; nothing was written ({} since start)",
            now.sync
        ));
    }
    let new = now.refused.wrapping_sub(was.refused);
    if new > 0 {
        lines.push(format!(
            "the metadata handler refused {new} operation(s): an update it could not apply or a state change for a disk it does not know ({} since start)",
            now.refused
        ));
    }
    lines
}

fn read_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

fn md_level(level: &str) -> Option<i32> {
    match level {
        "linear" => Some(-1),
        "multipath" => Some(-4),
        l => l.strip_prefix("raid").and_then(|n| n.parse().ok()),
    }
}

fn dev_name(s: &str) -> Option<DevName> {
    s.try_into().ok()
}

impl<'q, F: Format> Manager<'q, F> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        container: &str,
        format: F,
        disks: &[(u32, u32)],
        snapshot: Box<Snapshot<F>>,
        tx: Producer<'q, ToMonitor<F::Meta>, QUEUE_LEN>,
        rx: Consumer<'q, FromMonitor<F::Meta>, QUEUE_LEN>,
        monitor_wake: &'q Wake,
        shared: &'q Shared,
    ) -> Self {
        Manager {
            container: container.to_string(),
            format,
            tx,
            rx,
            monitor_wake,
            shared,
            tracked: BTreeMap::new(),
            ignored: BTreeMap::new(),
            reshapes: BTreeMap::new(),
            pending: Vec::new(),
            batch_out: false,
            snapshot: Some(snapshot),
            removals: Vec::new(),
            degraded: BTreeSet::new(),
            container_disks: disks
                .iter()
                .enumerate()
                .map(|(i, &d)| (d, i as u32))
                .collect(),
            next_disk_id: disks.len() as u32,
            departed: Vec::new(),
            container_devcnt: Some(disks.len() as u32),
            sigterm_seen: false,
            periodic: false,
            spare_wait: BTreeMap::new(),
            reported: ErrorCounts::default(),
            reported_at: None,
            held: None,
        }
    }

    /// Whether the coming pass runs only because the manager's wait timed out.
    pub fn set_periodic(&mut self, periodic: bool) {
        self.periodic = periodic;
    }

    /// From now until [`Manager::release_held`], discovered arrays and metadata updates are
    /// kept here instead of reaching the monitor.
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// Hands the held records to the monitor (the predecessor has exited), each with the
    /// safe-mode delay upstream's successor would set: it discovers arrays only now, so it
    /// reads the 1 ms the predecessor set at SIGTERM and writes 5 s back. The held updates
    /// follow after one monitor pass: their metadata write must not come before the
    /// arrays' first pass, which marks the waiting writes' arrays dirty.
    pub fn release_held(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        if held.is_empty() {
            self.flush_updates();
            return;
        }
        for bundle in held {
            settle_safe_mode(&PathBuf::from(format!("/sys/block/{}/md", bundle.devnm)));
            self.send(ToMonitor::Array(bundle));
        }
        let c = self.shared.loop_count();
        let target = if c & 1 == 1 { c + 2 } else { c + 3 };
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.shared.loop_count() < target
            && !self.shared.monitor_done.load(Ordering::Acquire)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.drain_monitor();
    }

    /// How long the manager may sleep: briefly while removals wait for a retry, and until
    /// errors counted since the last report may be logged.
    /// Whether an array waits for a spare: the manager then passes over /proc/mdstat at
    /// least every few seconds (docs/manager.md, "The loop"); otherwise it sleeps until
    /// woken, and an idle daemon wakes up for nothing.
    pub fn waiting(&self) -> bool {
        !self.degraded.is_empty()
    }

    pub fn poll_timeout(&self) -> Option<Duration> {
        if !self.removals.is_empty() || !self.pending.is_empty() {
            return Some(Duration::from_millis(100));
        }
        let counts = ErrorCounts::read(self.shared);
        (counts != self.reported).then(|| {
            self.reported_at.map_or(Duration::ZERO, |t| {
                ERROR_REPORT_INTERVAL.saturating_sub(t.elapsed())
            })
        })
    }

    /// Logs the metadata write errors and refused operations the monitor counted since the
    /// last report, naming the container and each disk (issue 14 item 5). At most once per
    /// [`ERROR_REPORT_INTERVAL`]: a dead disk fails a retry every 20 ms, and each line says
    /// how many failed since the last one.
    pub fn report_errors(&mut self) {
        if self
            .reported_at
            .is_some_and(|t| t.elapsed() < ERROR_REPORT_INTERVAL)
        {
            return;
        }
        let now = ErrorCounts::read(self.shared);
        if now == self.reported {
            return;
        }
        let lines = error_lines(&self.reported, &now, |id| self.disk_label(id));
        for line in &lines {
            mlog!(&self.container, "{line}");
        }
        self.reported = now;
        self.reported_at = Some(Instant::now());
    }

    /// How the logs name the disk of an error key: `sdb (8:16)`, or what is known of it.
    fn disk_label(&self, key: u64) -> String {
        let (major, minor) = match super::DiskErrors::decode(key) {
            Ok(dev) => dev,
            Err(id) => match self
                .container_disks
                .iter()
                .find(|(_, &i)| i == id)
                .map(|(d, _)| d)
            {
                Some(&dev) => dev,
                None => return format!("disk id {id} (no longer in the container)"),
            },
        };
        match std::fs::read_link(format!("/sys/dev/block/{major}:{minor}"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        {
            Some(kname) => format!("{kname} ({major}:{minor})"),
            None => format!("{major}:{minor}"),
        }
    }

    pub fn tracked_arrays(&self) -> usize {
        self.tracked.len()
    }

    /// Member arrays of the last mdstat pass that need no monitoring at all (raid0, linear:
    /// no dirty state). They do not keep the daemon alive: upstream exits once it monitors
    /// nothing, e.g. when a raid0 grow ends (docs/process.md, "Exit").
    pub fn stateless_members(&self) -> usize {
        self.ignored
            .values()
            .filter(|l| l.is_some_and(|l| l <= 0))
            .count()
    }

    fn send(&mut self, msg: ToMonitor<F::Meta>) {
        let mut msg = match (self.held.as_mut(), msg) {
            (Some(held), ToMonitor::Array(bundle)) => {
                held.push(bundle);
                return;
            }
            (_, msg) => msg,
        };
        // The monitor drains the queue on every wake; a full queue only means it is busy.
        let since = Instant::now();
        let mut told = false;
        loop {
            match self.tx.enqueue(msg) {
                Ok(()) => break,
                Err(m) => {
                    msg = m;
                    self.monitor_wake.signal();
                    self.drain_monitor();
                    std::thread::sleep(Duration::from_millis(1));
                    if !told && since.elapsed() > SLOW_MONITOR {
                        told = true;
                        mlog!(
                            &self.container,
                            "the monitor's queue has been full for {SLOW_MONITOR:?} (monitor pass {})",
                            self.shared.loop_count()
                        );
                    }
                }
            }
        }
        self.monitor_wake.signal();
    }

    /// Takes back what the monitor returned and acts on its events.
    pub fn drain_monitor(&mut self) {
        let mut took = false;
        while let Some(msg) = self.rx.dequeue() {
            took = true;
            match msg {
                FromMonitor::Retired(bundle) => {
                    if bundle.event_owed {
                        // Decided before the record left the monitor, never sent.
                        self.on_event(&super::ArrayEvent::of(&bundle));
                    }
                    if !bundle.record.live || self.sigterm_seen {
                        self.tracked.remove(bundle.devnm.as_str());
                    }
                    // Dropping it here closes its fds and frees it, on this thread.
                    drop(bundle);
                }
                FromMonitor::Handled(batch) => {
                    self.batch_out = false;
                    drop(batch);
                }
                FromMonitor::Snapshot(snap) => self.snapshot = Some(snap),
                FromMonitor::Disk(disk) => {
                    mlog!(
                        &self.container,
                        "too many member disks: not writing metadata to {}:{}",
                        disk.major,
                        disk.minor
                    );
                }
                FromMonitor::Event(ev) => self.on_event(&ev),
            }
        }
        if took {
            // The monitor may hold requests or events back until its queue has room.
            self.monitor_wake.signal();
        }
        self.flush_updates();
        self.report_errors();
    }

    /// What the monitor asked for: members to remove, a spare, a reshape follow-up.
    fn on_event(&mut self, ev: &super::ArrayEvent) {
        for (slot, kname) in ev.remove.iter() {
            mlog!(
                &self.container,
                "{}: member {} (slot {slot}) failed; removing it",
                ev.devnm,
                kname
            );
            let key = (ev.devnm.to_string(), kname.to_string());
            if !self.removals.contains(&key) {
                self.removals.push(key);
            }
        }
        if ev.check_degraded {
            self.degraded.insert(ev.devnm.to_string());
        }
        if ev.check_reshape {
            // Acted on in the next `manage`, not in the middle of whatever waits for the
            // monitor right now.
            let size = self.reshapes.entry(ev.devnm.to_string()).or_insert(0);
            *size = (*size).max(ev.custom_array_size);
        }
    }

    /// Hands the pending updates to the monitor when it holds no batch.
    fn flush_updates(&mut self) {
        if self.batch_out || self.pending.is_empty() || self.held.is_some() {
            return;
        }
        let batch = Box::new(std::mem::take(&mut self.pending));
        self.batch_out = true;
        self.send(ToMonitor::Updates(batch));
    }

    /// Waits until every queued update has been applied by the monitor.
    fn wait_updates_applied(&mut self) {
        let since = Instant::now();
        let mut told = false;
        // Held updates are applied only after the hand-over.
        while (self.batch_out || (!self.pending.is_empty() && self.held.is_none()))
            && !self.shared.monitor_done.load(Ordering::Acquire)
        {
            self.drain_monitor();
            std::thread::sleep(Duration::from_millis(2));
            // No deadline (a throttled disk can hold a metadata write for long), but a wait
            // this long is said once: the manager serves nothing meanwhile.
            if !told && since.elapsed() > SLOW_MONITOR {
                told = true;
                mlog!(
                    &self.container,
                    "waiting over {SLOW_MONITOR:?} for the monitor to apply updates (batch out: \
                     {}, {} pending, monitor pass {})",
                    self.batch_out,
                    self.pending.len(),
                    self.shared.loop_count()
                );
            }
        }
        if told {
            mlog!(
                &self.container,
                "the monitor applied the updates after {:?}",
                since.elapsed()
            );
        }
    }

    /// A copy of the metadata as the monitor has it now, after every queued update. Always
    /// taken afresh: the monitor changes the metadata on its own (failures, dirty marks),
    /// and a spare chosen from a stale copy can be the very disk that just failed.
    fn current_snapshot(&mut self) -> Option<&Snapshot<F>> {
        self.wait_updates_applied();
        let snap = self.snapshot.take()?;
        self.send(ToMonitor::Snapshot(snap));
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.snapshot.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            self.drain_monitor();
        }
        self.snapshot.as_deref()
    }

    /// "Ping monitor": every queued update applied, then one full monitor pass that started
    /// after this call (docs/protocol.md, "Requests"; docs/monitor.md, "The ping barrier").
    pub fn ping_monitor(&mut self) {
        self.wait_updates_applied();
        let c = self.shared.loop_count();
        let target = if c & 1 == 1 { c + 2 } else { c + 3 };
        self.monitor_wake.signal();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.shared.loop_count() < target
            && !self.shared.monitor_done.load(Ordering::Acquire)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
            self.drain_monitor();
        }
    }

    /// A metadata update from mdadm: validated and prepared now, applied by the monitor in
    /// arrival order. Dropped (still acknowledged, as upstream) after SIGTERM or when it
    /// does not validate.
    pub fn metadata_update(&mut self, payload: &[u8]) {
        if self.sigterm_seen {
            mlog!(&self.container, "dropping a metadata update after SIGTERM");
            return;
        }
        let container = self.container.clone();
        self.record_departures();
        let prepared = match self.current_snapshot() {
            Some(_) => {
                let snap = self.snapshot.take();
                let r = match &snap {
                    Some(s) => self.format.prepare_update(s, payload),
                    None => Err("no metadata snapshot".into()),
                };
                self.snapshot = snap;
                r
            }
            None => Err("no metadata snapshot".into()),
        };
        match prepared {
            Ok(u) => {
                self.pending.push(u);
                self.flush_updates();
            }
            Err(e) => mlog!(
                &container,
                "refusing a metadata update of {} bytes: {e}",
                payload.len()
            ),
        }
    }

    /// The SIGTERM hand-over: no new arrays, arrays go clean 1 ms after their last write,
    /// the monitor finishes once nothing is dirty.
    pub fn sigterm(&mut self) {
        if self.sigterm_seen {
            return;
        }
        self.sigterm_seen = true;
        self.shared.sigterm.store(true, Ordering::Release);
        for (devnm, t) in &self.tracked {
            use std::os::unix::fs::FileExt as _;
            let written = match &t.safe_mode {
                Some(f) => f.write_at(b"0.001", 0).map(drop),
                None => std::fs::write(format!("/sys/block/{devnm}/md/safe_mode_delay"), "0.001"),
            };
            if let Err(e) = written {
                mlog!(
                    &self.container,
                    "{devnm}: cannot set safe_mode_delay to 1 ms: {e}"
                );
            }
        }
        self.monitor_wake.signal();
    }

    /// Retries member removals the monitor asked for (docs/manager.md, "Removing failed
    /// members"): a fresh fd for `dev-X/state`, never the monitor's (since Linux 6.7 a removal
    /// may block).
    fn remove_members(&mut self) {
        let mut still = Vec::new();
        for (devnm, kname) in std::mem::take(&mut self.removals) {
            let path = PathBuf::from(format!("/sys/block/{devnm}/md/dev-{kname}/state"));
            if !path.exists() {
                // Already gone (mdadm removed it, or the array stopped).
                self.notify_removed(&devnm, &kname);
                continue;
            }
            match std::fs::write(&path, "remove") {
                Ok(()) => {
                    mlog!(&self.container, "{devnm}: removed {kname}");
                    self.notify_removed(&devnm, &kname);
                }
                Err(_) => still.push((devnm, kname)),
            }
        }
        self.removals = still;
    }

    fn notify_removed(&mut self, devnm: &str, kname: &str) {
        if let (Some(devnm), Some(kname)) = (dev_name(devnm), dev_name(kname)) {
            self.send(ToMonitor::MemberRemoved { devnm, kname });
        }
    }

    /// One management pass over `/proc/mdstat` (docs/manager.md, "A management pass").
    pub fn manage(&mut self, mdstat_text: &str) {
        self.drain_monitor();
        self.remove_members();
        if self.sigterm_seen {
            return;
        }
        let mut seen = BTreeSet::new();
        // Whether a member array of the container runs: only then can a disk leave without
        // the container being stopped (mdadm stops a container only once no member runs).
        let member_runs = mdstat::entries(mdstat_text)
            .any(|e| e.is_member_of(&self.container) && e.active == Some(true));
        if member_runs {
            self.record_departures();
        }
        for e in mdstat::entries(mdstat_text) {
            if e.devnm == self.container && self.container_devcnt != Some(e.devcnt) {
                self.manage_container(e.devcnt, member_runs);
            }
            if !e.is_member_of(&self.container) {
                continue;
            }
            seen.insert(e.devnm.to_string());
            let level = e.level.and_then(md_level);
            if self.tracked.contains_key(e.devnm) {
                if e.active == Some(true) {
                    self.manage_level(e.devnm, level);
                }
                continue;
            }
            if let Some(was) = self.ignored.get(e.devnm) {
                // Same level as when it was set aside: still nothing to do. A raid0 that a
                // grow turned into raid4 is looked at again (docs/manager.md, "Level changes").
                if *was == level || level.is_none_or(|l| l <= 0) {
                    continue;
                }
                self.ignored.remove(e.devnm);
            }
            if e.active != Some(true) {
                continue;
            }
            self.manage_new(&e);
        }
        self.ignored.retain(|d, _| seen.contains(d));
        self.reshapes.retain(|d, _| seen.contains(d));
        for (devnm, size) in std::mem::take(&mut self.reshapes) {
            self.follow_reshape(&devnm, size);
        }
        self.tracked.retain(|d, _| seen.contains(d));
        self.degraded.retain(|d| seen.contains(d));
        self.spare_wait.retain(|d, _| seen.contains(d));
        for devnm in self.degraded.clone() {
            // Failed members must be out of the array before a spare takes their slot.
            if self.removals.iter().any(|(d, _)| *d == devnm) {
                continue;
            }
            if self.activate_spare(&devnm) {
                self.degraded.remove(&devnm);
            }
        }
    }

    /// Disks joined or left the container (docs/manager.md, "Disks joining or leaving the
    /// container"): record them in the metadata. A departure while no member array runs
    /// waits (see `departed`).
    fn manage_container(&mut self, devcnt: u32, member_runs: bool) {
        let md = PathBuf::from(format!("/sys/block/{}/md", self.container));
        let Ok(entries) = std::fs::read_dir(&md) else {
            return;
        };
        let mut now: BTreeMap<(u32, u32), String> = BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(kname) = name.strip_prefix("dev-") else {
                continue;
            };
            let dev = read_text(&md.join(&name).join("block/dev")).and_then(|d| {
                let (a, b) = d.split_once(':')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            });
            if let Some(dev) = dev {
                now.insert(dev, kname.to_string());
            }
        }
        let gone: Vec<((u32, u32), u32)> = self
            .container_disks
            .iter()
            .filter(|(d, _)| !now.contains_key(d))
            .map(|(d, id)| (*d, *id))
            .collect();
        let added: Vec<((u32, u32), String)> = now
            .into_iter()
            .filter(|(d, _)| !self.container_disks.contains_key(d))
            .collect();
        for (dev, id) in gone {
            self.container_disks.remove(&dev);
            if member_runs {
                self.record_departure(dev, id);
            } else {
                mlog!(
                    &self.container,
                    "disk {}:{} left the container while no member array runs; recorded at the next metadata change",
                    dev.0,
                    dev.1
                );
                self.departed.push((dev, id));
            }
        }
        if !added.is_empty() {
            // Its record must not be written beside that of a disk that left unrecorded.
            self.record_departures();
        }
        for ((major, minor), kname) in added {
            let node = match DiskNode::new(&kname, major, minor) {
                Ok(n) => n,
                Err(e) => {
                    mlog!(&self.container, "{kname}: cannot open the new disk: {e}");
                    continue;
                }
            };
            let info = MemberDiskInfo {
                kname: kname.clone(),
                major,
                minor,
                path: node.path.clone(),
            };
            let id = self.next_disk_id;
            let result = match self.current_snapshot() {
                Some(_) => {
                    let snap = self.snapshot.take();
                    let r = match &snap {
                        Some(s) => self.format.add_disk(s, &info, id),
                        None => Err("no metadata snapshot".into()),
                    };
                    self.snapshot = snap;
                    r
                }
                None => Err("no metadata snapshot".into()),
            };
            match result {
                Ok((update, disk)) => {
                    mlog!(&self.container, "{kname} joined the container as a spare");
                    self.next_disk_id += 1;
                    self.container_disks.insert((major, minor), id);
                    self.send(ToMonitor::Disk(Box::new(disk)));
                    self.pending.push(update);
                }
                Err(e) => mlog!(&self.container, "{kname}: not added to the metadata: {e}"),
            }
        }
        self.container_devcnt = Some(devcnt);
        self.flush_updates();
    }

    /// Queues the metadata update for a disk that left the container.
    fn record_departure(&mut self, dev: (u32, u32), id: u32) {
        let update = match self.current_snapshot() {
            Some(_) => {
                let snap = self.snapshot.take();
                let u = snap.as_ref().and_then(|s| self.format.remove_disk(s, id));
                self.snapshot = snap;
                u
            }
            None => None,
        };
        if let Some(u) = update {
            mlog!(
                &self.container,
                "disk {}:{} left the container",
                dev.0,
                dev.1
            );
            self.pending.push(u);
        }
    }

    /// Records the departures that waited (see `departed`), before any other metadata
    /// change: a member array started, a disk joined, an update from mdadm, or mdadm's
    /// ping after its hot-remove from an idle container.
    pub fn record_departures(&mut self) {
        for (dev, id) in std::mem::take(&mut self.departed) {
            self.record_departure(dev, id);
        }
        self.flush_updates();
    }

    /// Spare activation for a degraded array (docs/manager.md, "Activating spares"). Returns
    /// true when the request is settled (spares added, or the array is gone); false to retry at
    /// a later wake-up, also when no disk can be taken now: a disk another volume needs may be
    /// free once that volume's rebuild ends (docs/ddf.md, "A disk in two volumes"), and a disk
    /// added to the container wakes the manager too.
    fn activate_spare(&mut self, devnm: &str) -> bool {
        let Some(tracked) = self.tracked.get(devnm).cloned() else {
            return true;
        };
        let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
        // Frozen by mdadm (block_monitor's `-` flag) or busy: not now.
        let blocked = read_text(&md.join("metadata_version"))
            .is_none_or(|v| sysfs::metadata_version_blocked(v.as_bytes()));
        let idle = read_text(&md.join("sync_action")).is_some_and(|a| a.starts_with("idle"));
        if blocked || !idle {
            return self.spare_waits(
                devnm,
                if blocked {
                    "frozen by mdadm"
                } else {
                    "sync_action is not idle"
                },
            );
        }
        let Some(view) = self.array_view(devnm, &tracked) else {
            return self.spare_waits(devnm, "its sysfs view is incomplete");
        };
        let whole = view
            .members
            .iter()
            .filter(|m| !m.1.contains(DiskState::FAULTY))
            .count();
        if u32::try_from(whole).is_ok_and(|n| n >= view.raid_disks) {
            self.spare_wait.remove(devnm);
            return true;
        }
        let Some(choice) = (match self.current_snapshot() {
            Some(_) => {
                let snap = self.snapshot.take();
                let c = snap
                    .as_ref()
                    .and_then(|s| self.format.activate_spare(s, &view));
                self.snapshot = snap;
                c
            }
            None => None,
        }) else {
            return self.spare_waits(devnm, "no disk fits now");
        };
        if self.spare_wait.remove(devnm).is_some() || self.periodic {
            mlog!(
                &self.container,
                "{devnm}: a spare fits now{}",
                if self.periodic {
                    " (found by the periodic pass)"
                } else {
                    ""
                }
            );
        }
        let (disks, update) = choice;
        // The kernel must not start recovery on a half-added disk.
        let _ = std::fs::write(md.join("sync_action"), "frozen");
        for d in &disks {
            let kname = std::fs::read_link(format!("/sys/dev/block/{}:{}", d.major, d.minor))
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
            let Some(kname) = kname else {
                mlog!(
                    &self.container,
                    "{devnm}: spare {}:{} has no sysfs entry",
                    d.major,
                    d.minor
                );
                continue;
            };
            let dir = md.join(format!("dev-{kname}"));
            let added = std::fs::write(md.join("new_dev"), format!("{}:{}", d.major, d.minor))
                .and_then(|_| std::fs::write(dir.join("offset"), d.data_offset.to_string()))
                .and_then(|_| {
                    std::fs::write(dir.join("size"), d.component_size.div_ceil(2).to_string())
                })
                .and_then(|_| std::fs::write(dir.join("slot"), d.slot.to_string()));
            if added.is_ok() && d.bad_block_log {
                // Without it the disk still rebuilds; a later write error fails it instead
                // of being logged, as on a kernel without external bad-block support.
                if let Err(e) = std::fs::write(dir.join("state"), "external_bbl") {
                    mlog!(
                        &self.container,
                        "{devnm}: {kname}: external_bbl refused ({e}); its write errors will fail it"
                    );
                }
            }
            match added {
                Ok(()) => mlog!(
                    &self.container,
                    "{devnm}: rebuilding slot {} onto {kname}",
                    d.slot
                ),
                Err(e) => mlog!(&self.container, "{devnm}: adding {kname} failed: {e}"),
            }
        }
        self.pending.push(update);
        self.flush_updates();
        self.wait_updates_applied();
        match self.build_bundle(devnm, tracked.level, tracked.inst) {
            Ok(mut bundle) => {
                // Even a recovery too quick to be seen must end with its metadata update.
                bundle.record.prev_action = mdmon_core::sysfs::SyncAction::Recover;
                self.send(ToMonitor::Array(bundle));
            }
            Err(e) => mlog!(
                &self.container,
                "{devnm}: cannot re-read after adding spares: {e}"
            ),
        }
        if let Err(e) = std::fs::write(md.join("sync_action"), "recover") {
            mlog!(&self.container, "{devnm}: cannot start the rebuild: {e}");
        }
        true
    }

    /// A spare check for `devnm` found nothing, because of `why`: said when the reason is
    /// new, and the array stays wanted. Returns false (not done).
    fn spare_waits(&mut self, devnm: &str, why: &'static str) -> bool {
        if self.spare_wait.get(devnm) != Some(&why) {
            mlog!(
                &self.container,
                "{devnm}: degraded, no spare activated yet: {why}"
            );
            self.spare_wait.insert(devnm.to_string(), why);
        }
        false
    }

    /// The array as sysfs shows it now, for the handler's spare choice.
    fn array_view(&self, devnm: &str, tracked: &Tracked) -> Option<ArrayView> {
        let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
        let num = |name: &str| read_text(&md.join(name)).and_then(|t| t.trim().parse::<u64>().ok());
        let mut view = ArrayView {
            inst: tracked.inst,
            level: tracked.level,
            raid_disks: read_text(&md.join("raid_disks")).and_then(|t| parse_raid_disks(&t))?,
            layout: num("layout").unwrap_or(0) as u32,
            component_size: num("component_size")?.saturating_mul(2),
            resync_start: read_text(&md.join("resync_start"))
                .and_then(|t| sysfs::parse_sector_or_none(t.as_bytes()))
                .unwrap_or(sysfs::MAX_SECTOR),
            members: Vec::new(),
        };
        for entry in std::fs::read_dir(&md).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("dev-") {
                continue;
            }
            let dir = md.join(&name);
            let Some(slot) = read_text(&dir.join("slot")).and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let dev = read_text(&dir.join("block/dev")).and_then(|d| {
                let (a, b) = d.split_once(':')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })?;
            let state = read_text(&dir.join("state"))
                .map(|s| DiskState::parse(s.as_bytes()))
                .unwrap_or_default();
            let recovery = read_text(&dir.join("recovery_start"))
                .and_then(|t| sysfs::parse_sector_or_none(t.as_bytes()))
                .unwrap_or(sysfs::MAX_SECTOR);
            view.members.push((slot, state, recovery, dev));
        }
        view.members.sort_by_key(|m| m.0);
        Some(view)
    }

    fn manage_new(&mut self, e: &mdstat::Entry<'_>) {
        let devnm = e.devnm.to_string();
        let Some(level) = e.level.and_then(md_level) else {
            return;
        };
        if level <= 0 {
            // raid0 and linear have no dirty state to keep (docs/manager.md, "A new member array").
            self.ignored.insert(devnm, Some(level));
            return;
        }
        let Some(inst) = e
            .subarray()
            .and_then(|(_, inst, _)| inst.parse::<u32>().ok())
        else {
            mlog!(
                &self.container,
                "{devnm}: cannot parse its metadata version"
            );
            self.ignored.insert(devnm, Some(level));
            return;
        };
        match self.build_bundle(&devnm, level, inst) {
            Ok(mut bundle) => {
                // Found in the middle of a reshape: its progress so far is the checkpoint
                // (docs/manager.md, "A new member array"), so the next one is only written
                // after progress.
                if let Some(cp) = reshape_checkpoint(&devnm, &bundle.record) {
                    bundle.record.last_checkpoint = cp;
                }
                let update = match self.current_snapshot() {
                    Some(_) => {
                        let snap = self.snapshot.take();
                        let r = match &snap {
                            Some(s) => self.format.open_new(s, inst),
                            None => Err("no metadata snapshot".into()),
                        };
                        self.snapshot = snap;
                        r
                    }
                    None => Err("no metadata snapshot".into()),
                };
                match update {
                    Ok(update) => {
                        if let Some(u) = update {
                            self.pending.push(u);
                            self.flush_updates();
                        }
                        mlog!(
                            &self.container,
                            "monitoring {devnm} (volume {inst}, raid{level}, {} members){}",
                            bundle.members.len(),
                            if self.periodic {
                                "; found by the periodic pass: no md event announced it"
                            } else {
                                ""
                            }
                        );
                        let safe_mode = std::fs::OpenOptions::new()
                            .write(true)
                            .open(format!("/sys/block/{devnm}/md/safe_mode_delay"))
                            .ok()
                            .map(std::sync::Arc::new);
                        let slots = bundle.record.members.iter().map(|m| m.slot).collect();
                        // Found degraded: look for a spare now (docs/threads.md, "Arrays
                        // found degraded").
                        let working = bundle
                            .record
                            .members
                            .iter()
                            .filter(|m| !m.curr_state.contains(DiskState::FAULTY))
                            .count();
                        if u32::try_from(working).is_ok_and(|w| w < bundle.record.raid_disks) {
                            mlog!(
                                &self.container,
                                "{devnm}: {working} of {} members at discovery; looking for a spare",
                                bundle.record.raid_disks
                            );
                            self.degraded.insert(devnm.clone());
                        }
                        self.tracked.insert(
                            devnm,
                            Tracked {
                                inst,
                                level,
                                safe_mode,
                                slots,
                                withdrawn: false,
                            },
                        );
                        self.send(ToMonitor::Array(bundle));
                    }
                    Err(e) => {
                        mlog!(&self.container, "failed to monitor {devnm}: {e}");
                        self.ignored.insert(devnm, Some(level));
                    }
                }
            }
            Err(err) => {
                mlog!(&self.container, "failed to monitor {devnm}: {err}");
            }
        }
    }

    /// A tracked array's level as mdstat shows it now (docs/manager.md, "Level changes"): raid0/linear
    /// has no dirty state, so its record is withdrawn from the monitor (mdadm ends a raid0
    /// grow that way, after running the reshape as raid4); another level gets a fresh record.
    fn manage_level(&mut self, devnm: &str, level: Option<i32>) {
        let Some(level) = level else { return };
        let Some(t) = self.tracked.get(devnm) else {
            return;
        };
        if t.withdrawn || t.level == level {
            return;
        }
        let inst = t.inst;
        if level <= 0 {
            match self.withdrawn_bundle(devnm, inst) {
                Ok(bundle) => {
                    mlog!(
                        &self.container,
                        "{devnm}: now raid{level}; no longer monitored"
                    );
                    if let Some(t) = self.tracked.get_mut(devnm) {
                        t.withdrawn = true;
                    }
                    self.send(ToMonitor::Array(bundle));
                }
                Err(e) => mlog!(&self.container, "{devnm}: cannot withdraw: {e}"),
            }
            return;
        }
        self.replace_record(devnm, level, inst, "level change");
    }

    /// The reshape follow-up (docs/manager.md, "Reshape follow-up"): members mdadm added join the
    /// monitor's record, and the size the metadata asks for is given to the kernel.
    fn follow_reshape(&mut self, devnm: &str, custom_array_size: u64) {
        let Some(t) = self.tracked.get(devnm) else {
            return;
        };
        if t.withdrawn {
            return;
        }
        let (inst, level, known) = (t.inst, t.level, t.slots.clone());
        let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
        let slots = member_slots(&md);
        if slots.iter().any(|s| !known.contains(s)) {
            self.replace_record(devnm, level, inst, "reshape");
        }
        if custom_array_size == 0 {
            return;
        }
        // `array_size` is in KiB, or `default` while the kernel decides it.
        let current = read_text(&md.join("array_size")).and_then(|t| t.parse::<u64>().ok());
        match current {
            Some(kib) if custom_array_size > kib.saturating_mul(2) => {
                let want = custom_array_size / 2;
                match std::fs::write(md.join("array_size"), want.to_string()) {
                    Ok(()) => mlog!(
                        &self.container,
                        "{devnm}: array size {kib} KiB -> {want} KiB after the reshape"
                    ),
                    Err(e) => mlog!(
                        &self.container,
                        "{devnm}: cannot set array_size to {want} KiB: {e}"
                    ),
                }
            }
            _ => {}
        }
    }

    /// Hands the monitor a fresh record for a tracked array (new members or level). It
    /// carries on from what is running now: a reshape already seen is not reported again,
    /// and its checkpoint restarts from the kernel's position rather than from zero.
    fn replace_record(&mut self, devnm: &str, level: i32, inst: u32, why: &str) {
        match self.build_bundle(devnm, level, inst) {
            Ok(mut bundle) => {
                let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
                let action = read_text(&md.join("sync_action"))
                    .map(|a| sysfs::SyncAction::parse(a.as_bytes()))
                    .unwrap_or(sysfs::SyncAction::Unknown);
                if action == sysfs::SyncAction::Reshape {
                    bundle.record.prev_action = sysfs::SyncAction::Reshape;
                }
                if let Some(cp) = reshape_checkpoint(devnm, &bundle.record) {
                    bundle.record.last_checkpoint = cp;
                }
                let slots: BTreeSet<u32> = bundle.record.members.iter().map(|m| m.slot).collect();
                mlog!(
                    &self.container,
                    "{devnm}: {why}: now raid{level}, {} of {} members tracked",
                    slots.len(),
                    bundle.record.raid_disks
                );
                if let Some(t) = self.tracked.get_mut(devnm) {
                    t.level = level;
                    t.slots = slots;
                }
                self.send(ToMonitor::Array(bundle));
            }
            Err(e) => mlog!(&self.container, "{devnm}: cannot re-read after {why}: {e}"),
        }
    }

    /// A record the monitor hands back at once without deciding anything (`live` false):
    /// how a tracked array is withdrawn.
    fn withdrawn_bundle(&self, devnm: &str, inst: u32) -> Result<Box<ArrayBundle>, String> {
        let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
        let open = |name: &str| {
            SysfsAttr::open(&md.join(name)).map_err(|e| format!("{}: {e}", md.join(name).display()))
        };
        let mut record = ArrayRecord::new(inst, 0, 0, 0);
        record.live = false;
        Ok(Box::new(ArrayBundle {
            devnm: dev_name(devnm).ok_or("array name too long")?,
            record,
            array_state: open("array_state")?,
            metadata_version: open("metadata_version")?,
            sync_action: None,
            sync_completed: None,
            resync_start: None,
            component_size: None,
            reshape_position: None,
            members: heapless::Vec::new(),
            event_owed: false,
            decided: PassOutcome::default(),
            prev_state_before: ArrayState::Inactive,
        }))
    }

    /// Opens every attribute of a member array and builds its record
    /// (docs/manager.md, "A new member array").
    fn build_bundle(&self, devnm: &str, level: i32, inst: u32) -> Result<Box<ArrayBundle>, String> {
        let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
        let read_num = |name: &str| -> Result<u64, String> {
            read_text(&md.join(name))
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| format!("{}: unreadable", md.join(name).display()))
        };
        let raid_disks = read_text(&md.join("raid_disks"))
            .and_then(|t| parse_raid_disks(&t))
            .ok_or_else(|| format!("{}: unreadable", md.join("raid_disks").display()))?;
        let component_size = read_num("component_size")?.saturating_mul(2);
        let layout = read_num("layout").unwrap_or(0) as u32;
        let open = |name: &str| {
            SysfsAttr::open(&md.join(name)).map_err(|e| format!("{}: {e}", md.join(name).display()))
        };
        let mut record = ArrayRecord::new(inst, level, raid_disks, component_size);
        record.layout = layout;
        // Members with a slot, in slot order; spares (no slot) are not tracked.
        let mut found: Vec<(u32, String, u32, u32, DiskState)> = Vec::new();
        let entries = std::fs::read_dir(&md).map_err(|e| format!("{}: {e}", md.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(kname) = name.strip_prefix("dev-") else {
                continue;
            };
            let dir = md.join(&name);
            let Some(slot) = read_text(&dir.join("slot")).and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((ma, mi)) = read_text(&dir.join("block/dev")).and_then(|d| {
                d.split_once(':')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            }) else {
                continue;
            };
            let state = read_text(&dir.join("state"))
                .map(|s| DiskState::parse(s.as_bytes()))
                .unwrap_or_default();
            found.push((slot, kname.to_string(), ma, mi, state));
        }
        found.sort_by_key(|f| f.0);
        let mut members = heapless::Vec::new();
        for (slot, kname, ma, mi, state) in found {
            let dir = format!("dev-{kname}");
            let fds = MemberFds {
                kname: dev_name(&kname).ok_or("disk name too long")?,
                state: open(&format!("{dir}/state"))?,
                recovery_start: open(&format!("{dir}/recovery_start"))?,
                bad_blocks: super::BadBlockFds::open(&md.join(&dir)),
            };
            members.push(fds).map_err(|_| "too many members")?;
            record
                .members
                .push(Member::new(slot, ma, mi, state))
                .map_err(|_| "too many members")?;
        }
        settle_safe_mode(&md);
        Ok(Box::new(ArrayBundle {
            devnm: dev_name(devnm).ok_or("array name too long")?,
            record,
            array_state: open("array_state")?,
            metadata_version: open("metadata_version")?,
            sync_action: open("sync_action").ok(),
            sync_completed: open("sync_completed").ok(),
            resync_start: open("resync_start").ok(),
            component_size: open("component_size").ok(),
            reshape_position: open("reshape_position").ok(),
            members,
            event_owed: false,
            decided: PassOutcome::default(),
            prev_state_before: ArrayState::Inactive,
        }))
    }
}

/// Safe mode (docs/manager.md, "Safe mode"): keep the kernel's value if sensible, else 5 s (a
/// predecessor may have left 1 ms behind at its SIGTERM exit); written back as `S.mmm`.
fn settle_safe_mode(md: &Path) {
    let delay = read_text(&md.join("safe_mode_delay"))
        .and_then(|t| sysfs::parse_safe_mode_ms(t.as_bytes()))
        .unwrap_or(0);
    let delay = if delay >= 50 { delay } else { 5000 };
    let _ = std::fs::write(
        md.join("safe_mode_delay"),
        format!("{}.{:03}\n", delay / 1000, delay % 1000),
    );
}

/// Slots of the array's members (`dev-*/slot` other than `none`).
fn member_slots(md: &Path) -> BTreeSet<u32> {
    let mut slots = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(md) else {
        return slots;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("dev-") {
            continue;
        }
        if let Some(slot) = read_text(&md.join(&name).join("slot")).and_then(|s| s.parse().ok()) {
            slots.insert(slot);
        }
    }
    slots
}

/// The checkpoint of a reshape the kernel is running: `reshape_position` (array sectors)
/// per data member (docs/manager.md, "A new member array"). `None` when no reshape runs.
fn reshape_checkpoint(devnm: &str, record: &ArrayRecord) -> Option<u64> {
    let md = PathBuf::from(format!("/sys/block/{devnm}/md"));
    let action = read_text(&md.join("sync_action"))?;
    if !action.starts_with("reshape") {
        return None;
    }
    let data_disks = match record.level {
        4 | 5 => record.raid_disks.saturating_sub(1),
        6 => record.raid_disks.saturating_sub(2),
        _ => record.raid_disks,
    };
    let position = read_text(&md.join("reshape_position"))
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0);
    Some(position.checked_div(u64::from(data_disks)).unwrap_or(0))
}

/// md's `raid_disks`: `N`, or `NEW (OLD)` while a reshape changes the count (the rig's
/// raid0 grow, run as raid4 3 -> 4, shows `4 (3)`). The new count is what mdstat's `[n/m]`
/// shows and what the running geometry is measured in (mdadm's sysfs_read takes it too).
fn parse_raid_disks(text: &str) -> Option<u32> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{error_lines, parse_raid_disks, ErrorCounts};

    #[test]
    fn error_lines_name_each_disk_and_count_only_what_is_new() {
        let label = |id: u64| format!("sd{} (8:{})", (b'a' + id as u8) as char, id * 16);
        let was = ErrorCounts {
            disks: [(1, 2)].into_iter().collect(),
            sync: 0,
            refused: 3,
        };
        let now = ErrorCounts {
            disks: [(0, 1), (1, 2), (2, 5)].into_iter().collect(),
            sync: 1,
            refused: 4,
        };
        assert_eq!(
            error_lines(&was, &now, label),
            [
                "1 metadata write(s) to sda (8:0) failed (1 since start)",
                "5 metadata write(s) to sdc (8:32) failed (5 since start)",
                "1 metadata sync(s) could not be prepared; nothing was written (1 since start)",
                "the metadata handler refused 1 operation(s): an update it could not apply or a state change for a disk it does not know (4 since start)",
            ]
        );
        assert!(error_lines(&now, &now, label).is_empty());
    }

    #[test]
    fn raid_disks_during_a_reshape_is_the_new_count() {
        assert_eq!(parse_raid_disks("3"), Some(3));
        assert_eq!(parse_raid_disks("4 (3)\n"), Some(4));
        assert_eq!(parse_raid_disks("3 (4)"), Some(3));
        assert_eq!(parse_raid_disks("x"), None);
    }
}
