//! What the monitor thread needs from a container's metadata, whatever its format: the
//! array-level decisions ([`MonitorHandler`]), applying prepared updates, and turning
//! pending changes into sector writes for the member disks (mdadm's "superswitch", reduced
//! to the monitor side; docs/monitor.md, "The handler's view").
//!
//! Implementations are pure: [`ContainerMetadata::sync`] fills a caller-owned buffer and
//! lists which bytes go where, so the shell can submit the writes to all members at once.

use crate::monitor::{ArrayRecord, Consistency, MonitorHandler};
use crate::sysfs::DiskState;
use heapless::Vec;

/// Upper bound of sector writes one sync issues: the larger of IMSM's (up to three ranges on
/// each of 64 disks: 192) and DDF's (a whole uncoalesced plan of 15 writes on each of 32
/// disks: [`ddf::DDF_MAX_DISK_WRITES`] = 480), so no container either format can load ever
/// has a sync refused with [`SyncError::TooManyWrites`]. The monitor keeps this many on its
/// stack (32 bytes each: 15 KiB).
pub const MAX_DISK_WRITES: usize = max(3 * 64, ddf::DDF_MAX_DISK_WRITES);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// One write of a metadata sync: `len` bytes of the sync buffer from `buf_start`, to the
/// member disk `disk` (the handler's id for it) at byte `offset`.
///
/// Writes go out in waves: every write of a wave has completed (or failed) before the
/// first write of the next wave is issued; within a wave all disks are written at once,
/// each disk's writes in list order. All writes of one disk share a wave. A format whose
/// copy on a disk can be torn by a cut (a multi-sector IMSM record) puts one disk in each
/// wave, so a power cut can tear at most one member's copy (docs/imsm.md, "Torn writes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskWrite {
    pub disk: u32,
    pub offset: u64,
    pub buf_start: usize,
    pub len: usize,
    pub wave: u8,
}

/// Why a sync produced no writes although changes were pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// The caller's buffer is smaller than [`ContainerMetadata::sync_buffer_len`].
    BufferTooSmall,
    /// The metadata cannot be encoded (it grew past what the format allows).
    Encode,
    /// More writes than [`MAX_DISK_WRITES`].
    TooManyWrites,
}

/// The monitor side of a metadata handler.
pub trait ContainerMetadata: MonitorHandler {
    /// A validated update, prepared by the manager (which owns any memory it needs).
    type Update;
    /// Applies an update in the monitor thread, in arrival order. `arrays` are the live
    /// member arrays (the handler may ask them to look for spares).
    fn process_update(&mut self, update: Self::Update, arrays: &mut [&mut ArrayRecord]);
    /// Bytes of the sync buffer (the manager allocates it, sector-aligned for O_DIRECT).
    fn sync_buffer_len(&self) -> usize;
    /// If changes are pending: serialise them into `buf`, list the writes, and return true.
    /// Nothing pending: return false and leave `writes` empty.
    fn sync(
        &mut self,
        buf: &mut [u8],
        writes: &mut Vec<DiskWrite, MAX_DISK_WRITES>,
    ) -> Result<bool, SyncError>;
    /// Count of handler operations that failed since start (they are logged by the manager;
    /// the monitor cannot format text).
    fn op_errors(&self) -> u32;
    /// The last sync's writes failed on every disk: mark everything pending again so the
    /// next sync rewrites it (without counting it as a new change).
    fn mark_unwritten(&mut self);
    /// A copy of the metadata for the manager's read-only work (choosing spares, preparing
    /// updates); filled into the manager's own preallocated value.
    type Snapshot;
    fn snapshot_into(&self, dst: &mut Self::Snapshot);
    /// The wall-clock time (Unix seconds), set by the monitor before each pass and before it
    /// applies updates. Formats that stamp times into their metadata (DDF headers and
    /// configuration records) keep it; the core has no clock of its own. Default: ignored.
    fn set_time(&mut self, _unix_secs: u64) {}
}

pub mod ddf;
pub mod imsm;
