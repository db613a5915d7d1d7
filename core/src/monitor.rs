//! The monitor's decisions for one member array: sysfs values in, actions out.
//!
//! This is mdmon's `read_and_act` (docs/monitor.md, "One pass over an array" and
//! "Checkpoints") as a pure function. The shell reads every attribute into an
//! [`Observation`], calls [`read_and_act`], then — and this order is the core safety rule —
//! writes the metadata the handler marked pending, and only then performs the sysfs writes
//! in the returned [`PassOutcome`]. The outcome can only be turned into sysfs writes with a
//! [`MetadataSynced`] token, which only exists once the metadata write returned, so the order
//! is enforced by types rather than by convention.
//!
//! Checkpointing follows mdadm 4.4+ (every progress event is written); mdadm 4.2 accepts
//! either rhythm (docs/monitor.md, "Checkpoints").

use crate::sysfs::{ArrayState, BadBlock, BadBlockBatch, DiskState, SyncAction, MAX_SECTOR};
use heapless::Vec;

/// Members tracked per array. md's external-metadata arrays in practice have ≤ 32 members
/// (IMSM: 8 per volume on RST, more on VROC; DDF: mdadm caps a BVD far lower); 64 leaves
/// head-room without making the monitor's preallocated records large.
pub const MAX_MEMBERS: usize = 64;

/// What the handler is asked to record (`set_array_state`'s `consistent` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Consistency {
    /// The array is (about to be) written: mark it dirty.
    Dirty,
    /// The array is clean: mark it clean as far as `resync_start` allows.
    Clean,
    /// The array leaves read-only: first mark missing members failed, then decide.
    LeavingReadOnly,
}

/// A tracked member as the monitor keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's role (`raid_disk`).
    pub slot: u32,
    /// Kernel device number, to find the same disk in sibling arrays.
    pub major: u32,
    pub minor: u32,
    pub prev_state: DiskState,
    pub curr_state: DiskState,
    /// Last `recovery_start` read ([`MAX_SECTOR`] = in sync).
    pub recovery_start: u64,
    /// The monitor asked the manager to remove this member (it no longer watches it).
    pub remove_requested: bool,
}

impl Member {
    pub fn new(slot: u32, major: u32, minor: u32, state: DiskState) -> Self {
        Member {
            slot,
            major,
            minor,
            prev_state: state,
            curr_state: state,
            recovery_start: MAX_SECTOR,
            remove_requested: false,
        }
    }
}

/// The monitor-owned record of one member array: what the last pass saw and what handlers
/// read and write (docs/monitor.md, "The handler's view").
#[derive(Clone, Debug)]
pub struct ArrayRecord {
    /// Instance within the container (`external:/mdX/<inst>`).
    pub inst: u32,
    pub level: i32,
    pub raid_disks: u32,
    pub layout: u32,
    /// Per-member size in sectors.
    pub component_size: u64,
    pub resync_start: u64,
    pub prev_state: ArrayState,
    pub curr_state: ArrayState,
    pub prev_action: SyncAction,
    pub curr_action: SyncAction,
    /// Handler-visible progress mark, in sectors per member (docs/monitor.md, "Checkpoints").
    pub last_checkpoint: u64,
    /// Set by handlers: the manager should look for a spare.
    pub check_degraded: bool,
    /// Set by handlers: the manager should pick up reshape changes.
    pub check_reshape: bool,
    /// Set by IMSM when a reshape grows the array (sectors); the manager writes array_size.
    pub custom_array_size: u64,
    pub members: Vec<Member, MAX_MEMBERS>,
    /// Cleared when the array is deactivated (stopped): the monitor leaves it alone and
    /// hands it back to the manager.
    pub live: bool,
}

impl ArrayRecord {
    pub fn new(inst: u32, level: i32, raid_disks: u32, component_size: u64) -> Self {
        ArrayRecord {
            inst,
            level,
            raid_disks,
            layout: 0,
            component_size,
            resync_start: MAX_SECTOR,
            prev_state: ArrayState::Inactive,
            curr_state: ArrayState::Inactive,
            prev_action: SyncAction::Idle,
            curr_action: SyncAction::Idle,
            last_checkpoint: 0,
            check_degraded: false,
            check_reshape: false,
            custom_array_size: 0,
            members: Vec::new(),
            live: true,
        }
    }

    /// Whether the resync covered the whole array (mdadm's `is_resync_complete`).
    pub fn resync_complete(&self) -> bool {
        resync_complete(
            self.level,
            self.layout,
            self.raid_disks,
            self.component_size,
            self.resync_start,
        )
    }

    /// Whether the shell must read `reshape_position` for the next pass (a reshape was
    /// running in the last pass; its end is judged by that attribute).
    pub fn wants_reshape_position(&self) -> bool {
        self.prev_action == SyncAction::Reshape
    }
}

/// mdadm's `is_resync_complete`: raid1/4/5/6 are in sync when the resync reached the
/// member size; raid10 when it reached the array's data size (members × size / copies, the
/// copies being near × far from the layout's low bytes); other levels have no resync.
pub fn resync_complete(
    level: i32,
    layout: u32,
    raid_disks: u32,
    component_size: u64,
    resync_start: u64,
) -> bool {
    match level {
        1 | 4 | 5 | 6 => resync_start >= component_size,
        10 => {
            let near = u64::from(layout & 0xff).max(1);
            let far = u64::from((layout >> 8) & 0xff).max(1);
            let end = component_size.saturating_mul(u64::from(raid_disks)) / (near * far);
            resync_start >= end
        }
        _ => true,
    }
}

/// The metadata handler as the monitor thread uses it (monitor side; docs/monitor.md, "The
/// handler's view").
/// Implementations change only in-memory metadata and mark it pending; the shell writes it.
pub trait MonitorHandler {
    /// Returns whether the array was recorded clean (only used for `LeavingReadOnly`).
    fn set_array_state(&mut self, array: &mut ArrayRecord, consistent: Consistency) -> bool;
    fn set_disk(&mut self, array: &mut ArrayRecord, slot: u32, state: DiskState);
    /// Records a bad block of the member in `slot` in the metadata (in memory, marked
    /// pending; docs/monitor.md, "Bad blocks"). Formats without a bad-block log keep the
    /// default.
    fn record_bad_block(
        &mut self,
        _array: &mut ArrayRecord,
        _slot: u32,
        _bb: BadBlock,
    ) -> Result<(), BadBlockError> {
        Err(BadBlockError::Unsupported)
    }
    /// Fills `out` with the ranges the metadata logs for the member in `slot` within this
    /// array's extent (absolute member sectors, as md lists them). False: the format keeps
    /// no bad-block log, and nothing is reconciled.
    fn logged_bad_blocks(
        &self,
        _array: &ArrayRecord,
        _slot: u32,
        _out: &mut Vec<BadBlock, MAX_LOGGED_BAD_BLOCKS>,
    ) -> bool {
        false
    }
    /// Drops the logged range `bb` (as [`Self::logged_bad_blocks`] listed it) of the member
    /// in `slot` (in memory, marked pending).
    fn clear_bad_block(&mut self, _array: &mut ArrayRecord, _slot: u32, _bb: BadBlock) {}
}

/// Why a bad block was not recorded. Whatever the reason, the member's write is then let
/// go without it (external bad-block handling off, member unblocked): never left waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadBlockError {
    /// The format keeps no bad-block log (DDF).
    Unsupported,
    /// The log refused it (full, or a range it cannot hold).
    Refused,
    /// The handler found no disk in that slot.
    NoSuchSlot,
}

/// Bad blocks acknowledged per array pass at most; more wait for the next pass (soon).
pub const MAX_ACKS_PER_PASS: usize = 16;

/// One member's values read in this pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberObservation {
    /// `dev-X/state`; `None` if the read failed.
    pub state: Option<DiskState>,
    /// `dev-X/recovery_start`; `None` if unreadable (keeps the old value).
    pub recovery_start: Option<u64>,
}

/// Everything the shell read for one array in this pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub array_state: ArrayState,
    pub sync_action: SyncAction,
    /// `resync_start` (not read while the state is `clear`).
    pub resync_start: Option<u64>,
    /// `component_size` in sectors (`None`: unreadable, keep the record's). mdadm's
    /// `--grow --size` changes it under a running array; the resync of the added region
    /// and its checkpoints are judged against it (docs/monitor.md, "What is read").
    pub component_size: Option<u64>,
    pub sync_completed: u64,
    /// Only needed when the state is `readonly`: does `metadata_version` carry `-`?
    pub blocked: bool,
    /// Only needed when [`ArrayRecord::wants_reshape_position`]: `Some(true)` when
    /// `reshape_position` reads `none` (finished), `Some(false)` otherwise, `None` if
    /// unreadable.
    pub reshape_finished: Option<bool>,
    /// Indexed like [`ArrayRecord::members`].
    pub members: Vec<MemberObservation, MAX_MEMBERS>,
}

/// Sysfs writes decided by one pass, to perform after the metadata is on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassOutcome {
    /// Word to write to `array_state`.
    pub next_state: Option<ArrayState>,
    /// Members (indexes into `ArrayRecord::members`) to write `-blocked` to.
    pub unblock: Vec<usize, MAX_MEMBERS>,
    /// The manager must run: a spare check, a reshape follow-up, a member removal, or a
    /// rebuild ended (the disk it rebuilt may be the spare another array waits for).
    pub wake_manager: bool,
    /// The array was dirty (active, write-pending, …) in this pass: SIGTERM exit waits.
    pub dirty: bool,
    /// The array stopped: after writing `clear` the monitor leaves it.
    pub deactivated: bool,
    /// Bad blocks recorded in the metadata in this pass, to acknowledge (member index,
    /// range) once the metadata is on disk.
    pub acks: Vec<(usize, BadBlock), MAX_ACKS_PER_PASS>,
    /// Members whose bad blocks could not be recorded: write `-external_bbl` (before
    /// `-blocked`, so the kernel stops waiting for mdmon and fails the member instead).
    pub disable_bbl: Vec<usize, MAX_MEMBERS>,
    /// Unacknowledged bad blocks are left over: run another pass soon.
    pub retry_soon: bool,
    /// The pass records something that vouches for data md already wrote: the array went
    /// clean, a member is in sync, a resync or rebuild checkpoint moved. md wrote that data
    /// without FUA, so the shell flushes the members' caches before this metadata goes
    /// out; a pass that only marks arrays dirty needs no flush and keeps its latency
    /// (docs/crash.md, "Flush before trust").
    pub trusts_data: bool,
}

/// Proof that the metadata the handlers marked pending has been written (or that nothing
/// was pending). Only the shell's metadata writer should create it, after its writes
/// returned.
#[derive(Debug)]
pub struct MetadataSynced(());

impl MetadataSynced {
    /// Called by the metadata writer once every member write of this pass completed.
    pub fn after_writes_completed() -> Self {
        MetadataSynced(())
    }
}

/// A sysfs write the shell performs, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysfsWrite {
    ArrayState(ArrayState),
    /// `-blocked` to member `index`.
    Unblock(usize),
    /// The line `<sector> <length>\n` to member `index`'s `bad_blocks` (acknowledges it).
    AckBadBlock(usize, BadBlock),
    /// `-external_bbl` to member `index`'s `state`.
    DisableExternalBbl(usize),
}

impl PassOutcome {
    /// The writes in the order they must happen. Requires the metadata to be on disk: a
    /// bad block is acknowledged only once the metadata holding it was written, and a
    /// member is unblocked only after its acknowledgements (or after `-external_bbl`).
    pub fn writes(&self, _synced: &MetadataSynced) -> impl Iterator<Item = SysfsWrite> + '_ {
        self.acks
            .iter()
            .map(|&(i, bb)| SysfsWrite::AckBadBlock(i, bb))
            .chain(
                self.disable_bbl
                    .iter()
                    .map(|&i| SysfsWrite::DisableExternalBbl(i)),
            )
            .chain(self.next_state.map(SysfsWrite::ArrayState))
            .chain(self.unblock.iter().map(|&i| SysfsWrite::Unblock(i)))
    }
}

/// One monitor pass over one array (mdmon's `read_and_act`). Updates `array`, calls the
/// handler, and returns the sysfs writes to perform after the metadata sync.
pub fn read_and_act<H: MonitorHandler>(
    array: &mut ArrayRecord,
    obs: &Observation,
    handler: &mut H,
) -> PassOutcome {
    read_and_act_bb(array, obs, &[], handler)
}

/// [`read_and_act`] with the `unacknowledged_bad_blocks` the shell read for this pass:
/// (member index, batch) for each member whose `state` showed `external_bbl` and `blocked`
/// (a second read, decided from the first: hence a separate argument). A member's batch
/// that could not be read at all is [`BadBlockBatch::unreadable`].
pub fn read_and_act_bb<H: MonitorHandler>(
    array: &mut ArrayRecord,
    obs: &Observation,
    unacked: &[(usize, BadBlockBatch)],
    handler: &mut H,
) -> PassOutcome {
    let mut out = PassOutcome::default();
    if !array.live {
        // The manager withdrew this record (its array became raid0/linear, which has no
        // dirty state to keep): nothing is decided for it; the shell hands it back.
        out.deactivated = true;
        return out;
    }
    let mut check_degraded = false;
    let mut check_reshape = false;
    let mut remove_newly_requested = false;
    // A rebuild ended here: the disk it rebuilt may be the spare another degraded array
    // of the container waits for (docs/manager.md, "Arrays waiting for a spare").
    let mut rebuild_ended = false;

    // A. read
    array.curr_state = obs.array_state;
    array.curr_action = obs.sync_action;
    if array.curr_state != ArrayState::Clear {
        if let Some(rs) = obs.resync_start {
            array.resync_start = rs;
        }
        if let Some(size) = obs.component_size.filter(|&s| s != 0) {
            array.component_size = size;
        }
    }
    for (i, m) in array.members.iter_mut().enumerate() {
        if m.remove_requested {
            continue;
        }
        let seen = obs.members.get(i).copied().unwrap_or_default();
        if let Some(rs) = seen.recovery_start {
            m.recovery_start = rs;
        }
        // An unreadable state file keeps the last known bits (the member is going away).
        m.curr_state = seen.state.unwrap_or(m.prev_state);
    }
    record_bad_blocks(array, unacked, handler, &mut out);
    let curr = array.curr_state;

    // B. decide
    let deactivate = (curr == ArrayState::Unknown || curr <= ArrayState::Inactive)
        && array.prev_state > ArrayState::Inactive;
    if deactivate {
        out.trusts_data = true;
        handler.set_array_state(array, Consistency::Clean);
        out.next_state = Some(ArrayState::Clear);
        out.deactivated = true;
    }
    match curr {
        ArrayState::WritePending => {
            handler.set_array_state(array, Consistency::Dirty);
            out.next_state = Some(ArrayState::Active);
            out.dirty = true;
        }
        ArrayState::ActiveIdle => {
            // Metadata goes clean only in a later pass, once the kernel says `clean`.
            out.next_state = Some(ArrayState::Clean);
            out.dirty = true;
        }
        ArrayState::Clean | ArrayState::Broken => {
            out.trusts_data |= array.prev_state != curr;
            handler.set_array_state(array, Consistency::Clean);
        }
        ArrayState::Active | ArrayState::Suspended => out.dirty = true,
        ArrayState::Readonly if !obs.blocked => {
            if handler.set_array_state(array, Consistency::LeavingReadOnly) {
                out.next_state = Some(ArrayState::ReadAuto);
            } else {
                out.next_state = Some(ArrayState::Active);
                out.dirty = true;
            }
        }
        _ => {}
    }

    if !deactivate {
        if array.curr_action == SyncAction::Idle && array.prev_action == SyncAction::Resync {
            // A resync ended: record clean if the array is, and look for degraded members.
            handler.set_array_state(array, consistency_for(curr));
            check_degraded = true;
            out.trusts_data = true;
        }
        let recovery_ended =
            array.curr_action == SyncAction::Idle && array.prev_action == SyncAction::Recover;
        if recovery_ended {
            out.trusts_data = true;
            rebuild_ended = true;
            let mut any_out_of_sync = false;
            for i in 0..array.members.len() {
                let (slot, bits) = match array.members.get(i) {
                    Some(m) => (m.slot, m.curr_state),
                    None => break,
                };
                handler.set_disk(array, slot, bits);
                any_out_of_sync |= !bits.contains(DiskState::IN_SYNC);
            }
            let tracked = array.members.len();
            if any_out_of_sync || u32::try_from(tracked).ok() != Some(array.raid_disks) {
                check_degraded = true;
            }
        } else if !reshaping(array.prev_action) && !reshaping(array.curr_action) {
            // A member md now reports in sync, although no pass saw `recover` turn `idle`:
            // - a short recovery starts and ends between two wake-ups (md had delayed it
            //   behind another array on the same disks);
            // - md reads `recover` again before any pass saw `idle`: it sets "recovery
            //   needed" when it reaps a finished recovery, and again when another member
            //   fails right after.
            // The metadata must hear it all the same, and in this pass, before (or with) a
            // failure seen now: a DDF disk still Rebuilding beside a Failed one leaves the
            // volume with no member mdadm will start (docs/ddf.md, "Rebuilding").
            // Members that turn in sync as a reshape proceeds or ends are the reshape's
            // business (its own checkpoints and end), not a rebuild's.
            for i in 0..array.members.len() {
                let (slot, bits, was) = match array.members.get(i) {
                    Some(m) => (m.slot, m.curr_state, m.prev_state),
                    None => break,
                };
                let joined = bits.contains(DiskState::IN_SYNC)
                    && !bits.contains(DiskState::FAULTY)
                    && !was.contains(DiskState::IN_SYNC);
                if joined {
                    out.trusts_data = true;
                    rebuild_ended = true;
                    handler.set_disk(array, slot, bits);
                }
            }
        }
        if array.curr_action == SyncAction::Reshape && array.prev_action != SyncAction::Reshape {
            check_reshape = true;
        }
    }

    for i in 0..array.members.len() {
        let (slot, bits, already) = match array.members.get(i) {
            Some(m) => (m.slot, m.curr_state, m.remove_requested),
            None => break,
        };
        if already || !bits.contains(DiskState::FAULTY) {
            continue;
        }
        handler.set_disk(array, slot, bits);
        check_degraded = true;
        if bits.contains(DiskState::BLOCKED) && !out.unblock.contains(&i) {
            let _ = out.unblock.push(i);
        }
        if curr == ArrayState::ReadAuto {
            handler.set_array_state(array, Consistency::Dirty);
            out.next_state = Some(ArrayState::Active);
        }
        if curr > ArrayState::Readonly {
            // The manager removes it (since Linux 6.7 a removal may block: never here).
            if let Some(m) = array.members.get_mut(i) {
                m.remove_requested = true;
            }
            remove_newly_requested = true;
        }
    }

    out.trusts_data |= checkpoint(array, obs, handler);

    // C. remember (the caller performs the writes after syncing the metadata)
    array.prev_state = array.curr_state;
    array.prev_action = array.curr_action;
    for m in array.members.iter_mut() {
        m.prev_state = m.curr_state;
    }
    if check_degraded {
        array.check_degraded = true;
    }
    if check_reshape {
        array.check_reshape = true;
    }
    out.wake_manager = check_degraded || check_reshape || remove_newly_requested || rebuild_ended;
    if deactivate {
        array.live = false;
    }
    out
}

/// A reshape, or an action that may belong to one (`frozen`: mdadm sets it while it
/// prepares a grow).
fn reshaping(action: SyncAction) -> bool {
    matches!(action, SyncAction::Reshape | SyncAction::Unknown)
}

/// Bad blocks, recording (docs/monitor.md, "Bad blocks"): every unacknowledged bad block of a
/// blocked `external_bbl` member goes into the metadata; acknowledged (after the sync) and
/// then unblocked. If one cannot be recorded — or the file cannot be read — external
/// bad-block handling is switched off for the member before it is unblocked: the kernel then
/// fails the member rather than keep the write waiting for an acknowledgement that will never
/// come.
fn record_bad_blocks<H: MonitorHandler>(
    array: &mut ArrayRecord,
    unacked: &[(usize, BadBlockBatch)],
    handler: &mut H,
    out: &mut PassOutcome,
) {
    for (i, batch) in unacked {
        let i = *i;
        let (slot, bits) = match array.members.get(i) {
            Some(m) if !m.remove_requested => (m.slot, m.curr_state),
            _ => continue,
        };
        let wanted = DiskState::EXTERNAL_BBL | DiskState::BLOCKED;
        if !bits.contains(wanted) || bits.contains(DiskState::FAULTY) {
            // Not waiting for us (a failed member is handled by the failure rule).
            continue;
        }
        let mut recorded = 0usize;
        let mut failed = batch.malformed && batch.is_empty();
        for bb in batch.entries() {
            if out.acks.is_full() {
                out.retry_soon = true;
                break;
            }
            match handler.record_bad_block(array, slot, *bb) {
                Ok(()) => {
                    let _ = out.acks.push((i, *bb));
                    recorded += 1;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if batch.more {
            out.retry_soon = true;
        }
        if failed {
            let _ = out.disable_bbl.push(i);
        }
        if (failed || recorded > 0) && !out.unblock.contains(&i) {
            let _ = out.unblock.push(i);
        }
    }
}

fn consistency_for(state: ArrayState) -> Consistency {
    if state <= ArrayState::Clean {
        Consistency::Clean
    } else {
        Consistency::Dirty
    }
}

/// Progress checkpoints (mdadm 4.4+ rhythm: every progress event is recorded). Returns
/// whether one was recorded.
fn checkpoint<H: MonitorHandler>(
    array: &mut ArrayRecord,
    obs: &Observation,
    handler: &mut H,
) -> bool {
    let completed = obs.sync_completed;
    let mut write = false;
    if array.curr_action == SyncAction::Idle && array.prev_action == SyncAction::Reshape {
        if completed != 0 {
            array.last_checkpoint = completed;
        }
        if obs.reshape_finished == Some(true) {
            // Tells the handler to finalise the reshape; an interrupted one keeps its
            // checkpoint so it can resume.
            array.last_checkpoint = array.component_size;
        }
        write = true;
    }
    if array.curr_action >= SyncAction::Reshape && completed > array.last_checkpoint {
        array.last_checkpoint = completed;
        write = true;
    }
    if write {
        handler.set_array_state(array, consistency_for(array.curr_state));
        if array.curr_action <= SyncAction::Reshape {
            array.last_checkpoint = completed;
        }
    }
    if completed >= array.component_size {
        array.last_checkpoint = 0;
    }
    write
}

/// A failed disk seen in one array must fail in every sibling array of the container
/// (mdmon's `reconcile_failed`). Calls `emit(array index, member index)` for each member
/// the shell must write `faulty` to.
pub fn failures_to_propagate(arrays: &[&ArrayRecord], mut emit: impl FnMut(usize, usize)) {
    for (ai, a) in arrays.iter().enumerate() {
        if !a.live {
            continue;
        }
        for m in a
            .members
            .iter()
            .filter(|m| m.curr_state.contains(DiskState::FAULTY))
        {
            for (bi, b) in arrays.iter().enumerate() {
                if bi == ai || !b.live {
                    continue;
                }
                for (mi, other) in b.members.iter().enumerate() {
                    if other.major == m.major
                        && other.minor == m.minor
                        && !other.curr_state.contains(DiskState::FAULTY)
                        && !other.remove_requested
                    {
                        emit(bi, mi);
                    }
                }
            }
        }
    }
}

mod reconcile;
pub use reconcile::{
    reconcile_bad_blocks, wants_reconcile, Reconciled, BAD_BLOCK_LIST_BYTES, MAX_KERNEL_BAD_BLOCKS,
    MAX_LOGGED_BAD_BLOCKS,
};

#[cfg(test)]
mod tests;
