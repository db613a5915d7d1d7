//! The two threads of a running mdmon and what passes between them.
//!
//! The monitor thread owns the live array records, their sysfs fds, the metadata and the
//! disks it writes; the manager builds complete records (opening every fd, allocating every
//! buffer) and hands them over through fixed-capacity queues, and takes retired ones back
//! to free them. Nothing mutable is shared except a few atomics (the ping barrier's loop
//! counter, the SIGTERM flag), so the monitor never waits on a lock the manager could hold
//! across an allocation or blocking I/O (docs/threads.md, "What the threads share").

pub mod ddf;
pub mod disk;
pub mod format;
pub mod imsm;
pub mod manager;
pub mod monitor;
pub mod seccomp;
pub mod sysfs_fd;
pub mod wake;

use mdmon_core::handler::ContainerMetadata;
use mdmon_core::monitor::{ArrayRecord, PassOutcome, MAX_MEMBERS};
use mdmon_core::sysfs::ArrayState;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use sysfs_fd::SysfsAttr;

/// Member arrays per container the monitor tracks at once. IMSM allows 2 volumes per disk
/// set (4 in the MPB); DDF containers made by mdadm rarely hold more than a handful.
pub const MAX_ARRAYS: usize = 16;

/// Slots per direction (a heapless queue holds one less). Nothing depends on the manager
/// draining in time: the monitor takes a request only while it has room to answer it, and
/// keeps what it sends on its own in its records until there is room (`Monitor::tx`).
pub const QUEUE_LEN: usize = 8;

/// A kernel name such as `md126` or `sda` (md limits names to 32 bytes).
pub type DevName = heapless::String<32>;

/// One tracked member's attribute fds, parallel to `ArrayRecord::members`.
#[derive(Debug)]
pub struct MemberFds {
    pub kname: DevName,
    pub state: SysfsAttr,
    pub recovery_start: SysfsAttr,
    /// `bad_blocks` and `unacknowledged_bad_blocks`; `None` when the kernel has no such
    /// files for this member (then it never asks for external bad-block handling).
    pub bad_blocks: Option<BadBlockFds>,
}

/// A member's bad-block lists (docs/monitor.md, "Bad blocks"): the monitor reads the
/// unacknowledged one and acknowledges a range by writing its line to the other.
#[derive(Debug)]
pub struct BadBlockFds {
    pub acked: SysfsAttr,
    pub unacked: SysfsAttr,
}

impl BadBlockFds {
    /// Opens and primes both files in the member's directory (`…/md/dev-X`). Either missing
    /// or unopenable: `None` (the monitor then turns the feature off if md ever asks for it,
    /// rather than leave a write waiting).
    pub fn open(member_dir: &Path) -> Option<Self> {
        Some(BadBlockFds {
            acked: SysfsAttr::open(&member_dir.join("bad_blocks")).ok()?,
            unacked: SysfsAttr::open(&member_dir.join("unacknowledged_bad_blocks")).ok()?,
        })
    }
}

/// A member array as the monitor runs it: the decision record and every fd it reads.
#[derive(Debug)]
pub struct ArrayBundle {
    pub devnm: DevName,
    pub record: ArrayRecord,
    pub array_state: SysfsAttr,
    pub metadata_version: SysfsAttr,
    /// Absent for levels without a sync thread (raid0, linear).
    pub sync_action: Option<SysfsAttr>,
    pub sync_completed: Option<SysfsAttr>,
    pub resync_start: Option<SysfsAttr>,
    /// Per-member size: `--grow --size` changes it while the array runs.
    pub component_size: Option<SysfsAttr>,
    pub reshape_position: Option<SysfsAttr>,
    pub members: heapless::Vec<MemberFds, MAX_MEMBERS>,
    /// The monitor decided something the manager must act on ([`ArrayEvent::of`] this
    /// record) and has not told it yet: the queue was full. Set and cleared by the monitor
    /// only; a record handed back with it set carries its event to the manager.
    pub event_owed: bool,
    /// What this step's pass decided, kept until the step's one metadata sync says whether
    /// it may be carried out (in the record's box: no array-sized outcome on the stack).
    pub decided: PassOutcome,
    /// `record.prev_state` before this step's pass, restored when the sync fails.
    pub prev_state_before: ArrayState,
}

/// What a pass decided that the manager must act on (plain values; the monitor keeps the
/// record).
#[derive(Debug, Clone, Default)]
pub struct ArrayEvent {
    pub devnm: DevName,
    pub check_degraded: bool,
    pub check_reshape: bool,
    /// Sectors IMSM wants the array grown to after a reshape (0: nothing).
    pub custom_array_size: u64,
    /// Members the monitor stopped watching and the manager must remove: (slot, kname).
    pub remove: heapless::Vec<(u32, DevName), 8>,
}

impl ArrayEvent {
    /// What `bundle`'s record asks of the manager now (no allocation: runs on the monitor).
    pub fn of(bundle: &ArrayBundle) -> ArrayEvent {
        let mut ev = ArrayEvent {
            devnm: bundle.devnm.clone(),
            check_degraded: bundle.record.check_degraded,
            check_reshape: bundle.record.check_reshape,
            custom_array_size: bundle.record.custom_array_size,
            remove: heapless::Vec::new(),
        };
        for (m, fds) in bundle.record.members.iter().zip(bundle.members.iter()) {
            if m.remove_requested {
                let _ = ev.remove.push((m.slot, fds.kname.clone()));
            }
        }
        ev
    }
}

/// Manager → monitor.
#[derive(Debug)]
pub enum ToMonitor<H: ContainerMetadata> {
    /// Start monitoring this array; if one with the same name is tracked, this replaces it
    /// (the old record comes back as [`FromMonitor::Retired`]).
    Array(Box<ArrayBundle>),
    /// Apply these prepared updates in order, then sync the metadata once.
    Updates(Box<Vec<H::Update>>),
    /// The manager removed this member from the array: forget it (closing its fds).
    MemberRemoved { devnm: DevName, kname: DevName },
    /// A disk joined the container: keep it for metadata writes.
    Disk(Box<disk::MetadataDisk>),
    /// Fill this with a copy of the metadata and send it back.
    Snapshot(Box<H::Snapshot>),
}

/// Monitor → manager.
// The queue's slots are preallocated at their largest variant; boxing the event would mean
// an allocation in the monitor.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FromMonitor<H: ContainerMetadata> {
    /// A record the monitor no longer uses (replaced or stopped): the manager frees it,
    /// after acting on the event it still owed (`event_owed`), if any.
    Retired(Box<ArrayBundle>),
    /// An applied update batch (its memory is freed by the manager).
    Handled(Box<Vec<H::Update>>),
    Event(ArrayEvent),
    /// The requested copy of the metadata.
    Snapshot(Box<H::Snapshot>),
    /// A disk box the monitor had no room for (it is not written to).
    Disk(Box<disk::MetadataDisk>),
}

/// The only state both threads touch, all atomic.
#[derive(Debug, Default)]
pub struct Shared {
    /// The ping barrier (docs/monitor.md, "The ping barrier"): odd while the monitor waits,
    /// +1 on each wake.
    pub loop_count: AtomicU64,
    /// SIGTERM arrived: drive arrays clean, then exit.
    pub sigterm: AtomicBool,
    /// The monitor has finished (all arrays clean after SIGTERM, or a fatal condition).
    pub monitor_done: AtomicBool,
    /// Failed metadata writes since start (the manager reports them).
    pub write_errors: AtomicU64,
    /// The same per disk, by the handler's disk id (the manager names the disk).
    pub disk_write_errors: DiskErrors,
    /// Syncs the handler could not serialise at all (no disk was written).
    pub sync_errors: AtomicU32,
    /// The handler's `op_errors()` as of the monitor's last iteration: operations it refused
    /// (an update it could not apply, a state change for a slot it does not know).
    pub op_errors: AtomicU32,
    /// Arrays the monitor holds, as of its last pass (it stores this before each wait).
    /// The manager does not end the process while the monitor still holds an array: the
    /// monitor hands an array back only after its final clean write (see `request_exit`).
    pub monitor_arrays: AtomicUsize,
    /// The manager wants to end the process (no member array left): the monitor parks at
    /// the top of its next iteration, before it could start any metadata write.
    pub exit_requested: AtomicBool,
    /// The monitor saw `exit_requested` and is parked: no write of ours is in flight and
    /// none will start, so the process may end.
    pub monitor_parked: AtomicBool,
}

/// Failed metadata writes per disk. The monitor keys a disk by its device number when it
/// has the disk open (`DiskErrors::dev_key`), else by the handler's id for it
/// (`DiskErrors::id_key`): DDF's ids are built from device numbers, IMSM's are the
/// manager's indexes, and only the device number names a disk the same way for both.
#[derive(Debug)]
pub struct DiskErrors {
    keys: [AtomicU64; DiskErrors::SLOTS],
    counts: [AtomicU32; DiskErrors::SLOTS],
}

impl DiskErrors {
    pub const SLOTS: usize = 128;
    const EMPTY: u64 = u64::MAX;
    const DEV: u64 = 1 << 63;

    /// The key of an open disk: its device number.
    pub fn dev_key(major: u32, minor: u32) -> u64 {
        Self::DEV | (u64::from(major) << 32) | u64::from(minor)
    }

    /// The key of a disk the monitor has no open file for: the handler's id.
    pub fn id_key(id: u32) -> u64 {
        u64::from(id)
    }

    /// What a key names: a device number, or a handler id.
    pub fn decode(key: u64) -> Result<(u32, u32), u32> {
        if key & Self::DEV != 0 {
            Ok((((key >> 32) as u32) & 0x7fff_ffff, key as u32))
        } else {
            Err(key as u32)
        }
    }

    /// One more failed write to the disk `key` (the monitor, the only writer: no
    /// allocation, no panic). Keys beyond the table's room share its last slot.
    pub fn note(&self, key: u64) {
        let slot = self
            .keys
            .iter()
            .position(|k| k.load(Ordering::Relaxed) == key)
            .or_else(|| {
                let free = self
                    .keys
                    .iter()
                    .position(|k| k.load(Ordering::Relaxed) == Self::EMPTY)?;
                self.keys.get(free)?.store(key, Ordering::Relaxed);
                Some(free)
            })
            .unwrap_or(Self::SLOTS - 1);
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (key, failed writes) of every disk that had one.
    pub fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.keys
            .iter()
            .zip(self.counts.iter())
            .map(|(k, c)| (k.load(Ordering::Relaxed), c.load(Ordering::Relaxed)))
            .filter(|&(k, n)| k != Self::EMPTY && n > 0)
    }
}

impl Default for DiskErrors {
    fn default() -> Self {
        DiskErrors {
            keys: std::array::from_fn(|_| AtomicU64::new(Self::EMPTY)),
            counts: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

impl Shared {
    pub fn loop_count(&self) -> u64 {
        self.loop_count.load(Ordering::Acquire)
    }

    /// Asks the monitor to stop before its next iteration and waits until it has
    /// (docs/threads.md, "Ending the process never cuts a metadata write"): the
    /// process must never end inside a metadata write, which would leave members with a
    /// half-written copy (a DDF primary header left open, sections of two generations).
    /// The monitor is woken by `wake`; a monitor busy in a slow write is waited for as
    /// long as that write takes (logged every 10 s through `waiting`).
    pub fn request_exit(&self, wake: &wake::Wake, mut waiting: impl FnMut(Duration)) {
        self.exit_requested.store(true, Ordering::Release);
        let start = Instant::now();
        let mut next_note = Duration::from_secs(10);
        while !self.monitor_parked.load(Ordering::Acquire)
            && !self.monitor_done.load(Ordering::Acquire)
        {
            wake.signal();
            std::thread::sleep(Duration::from_millis(1));
            if start.elapsed() >= next_note {
                waiting(start.elapsed());
                next_note += Duration::from_secs(10);
            }
        }
    }
}

#[cfg(test)]
mod disk_errors_tests {
    use super::DiskErrors;

    /// A DDF disk (keyed by device number: its handler id is far beyond any table index)
    /// and a disk the monitor never opened (keyed by id) are counted apart and named back.
    #[test]
    fn failed_writes_are_counted_per_disk_whatever_the_id() {
        let e = DiskErrors::default();
        let ddf = DiskErrors::dev_key(8, 16);
        let unopened = DiskErrors::id_key(3);
        for _ in 0..3 {
            e.note(ddf);
        }
        e.note(unopened);
        let mut got: Vec<(u64, u32)> = e.entries().collect();
        got.sort();
        assert_eq!(got, [(unopened, 1), (ddf, 3)]);
        assert_eq!(DiskErrors::decode(ddf), Ok((8, 16)));
        assert_eq!(DiskErrors::decode(unopened), Err(3));
        assert_eq!(
            DiskErrors::decode(DiskErrors::dev_key(259, 1 << 20)),
            Ok((259, 1 << 20))
        );
    }

    #[test]
    fn more_disks_than_slots_share_the_last_one() {
        let e = DiskErrors::default();
        for minor in 0..(DiskErrors::SLOTS as u32 + 5) {
            e.note(DiskErrors::dev_key(8, minor));
        }
        let total: u32 = e.entries().map(|(_, n)| n).sum();
        assert_eq!(total, DiskErrors::SLOTS as u32 + 5, "nothing lost");
        assert_eq!(e.entries().count(), DiskErrors::SLOTS);
    }
}
