//! The IMSM handler as the monitor drives it.

use super::*;
use crate::imsm::container::Container;
use crate::imsm::ops::{ArrayInput, MemberInput};
use crate::imsm::update::PreparedUpdate;

/// IMSM metadata owned by the monitor thread.
#[derive(Debug)]
pub struct ImsmMetadata {
    pub container: Container,
    pub op_errors: u32,
}

impl ImsmMetadata {
    pub fn new(container: Container) -> Self {
        ImsmMetadata {
            container,
            op_errors: 0,
        }
    }
}

/// Runs `f` with the IMSM view of `array` (built on the stack: no allocation).
fn with_input<R>(array: &ArrayRecord, f: impl FnOnce(&ArrayInput<'_>) -> R) -> R {
    let mut members: Vec<MemberInput, { crate::monitor::MAX_MEMBERS }> = Vec::new();
    for m in array.members.iter() {
        let _ = members.push(MemberInput {
            slot: m.slot,
            state: m.curr_state.bits(),
            recovery_start: m.recovery_start,
            active: !m.remove_requested,
            dev: (m.major, m.minor),
        });
    }
    let input = ArrayInput {
        volume: array.inst as usize,
        md_level: array.level,
        raid_disks: array.raid_disks,
        layout: array.layout,
        component_size: array.component_size,
        resync_start: array.resync_start,
        curr_action: array.curr_action,
        prev_action: array.prev_action,
        last_checkpoint: array.last_checkpoint,
        members: &members,
    };
    f(&input)
}

impl MonitorHandler for ImsmMetadata {
    fn set_array_state(&mut self, array: &mut ArrayRecord, consistent: Consistency) -> bool {
        let c = match consistent {
            Consistency::Dirty => 0,
            Consistency::Clean => 1,
            Consistency::LeavingReadOnly => 2,
        };
        let container = &mut self.container;
        match with_input(array, |a| container.set_array_state(a, c)) {
            Ok(out) => {
                array.last_checkpoint = out.last_checkpoint;
                if let Some(size) = out.custom_array_size {
                    array.custom_array_size = size;
                }
                array.check_reshape |= out.check_reshape;
                out.consistent == 1
            }
            Err(_) => {
                self.op_errors = self.op_errors.saturating_add(1);
                // Unknown outcome: report dirty, so the array goes `active` and
                // nothing is claimed clean that the metadata may not say.
                false
            }
        }
    }

    fn record_bad_block(
        &mut self,
        array: &mut ArrayRecord,
        slot: u32,
        bb: crate::sysfs::BadBlock,
    ) -> Result<(), crate::monitor::BadBlockError> {
        use crate::monitor::BadBlockError;
        match self.container.record_bad_block(
            array.inst as usize,
            slot as usize,
            bb.sector,
            u64::from(bb.len),
        ) {
            Ok(0) => Err(BadBlockError::Refused),
            Ok(_) => Ok(()),
            Err(_) => {
                self.op_errors = self.op_errors.saturating_add(1);
                Err(BadBlockError::NoSuchSlot)
            }
        }
    }

    fn logged_bad_blocks(
        &self,
        array: &ArrayRecord,
        slot: u32,
        out: &mut Vec<crate::sysfs::BadBlock, { crate::monitor::MAX_LOGGED_BAD_BLOCKS }>,
    ) -> bool {
        let mut found: Vec<(u64, u32), { crate::imsm::model::MAX_BBM_ENTRIES }> = Vec::new();
        out.clear();
        if self
            .container
            .get_bad_blocks(array.inst as usize, slot as usize, &mut found)
            .is_err()
        {
            return false;
        }
        for &(sector, len) in found.iter() {
            let _ = out.push(crate::sysfs::BadBlock { sector, len });
        }
        true
    }

    fn clear_bad_block(&mut self, array: &mut ArrayRecord, slot: u32, bb: crate::sysfs::BadBlock) {
        if self
            .container
            .clear_bad_block(
                array.inst as usize,
                slot as usize,
                bb.sector,
                u64::from(bb.len),
            )
            .is_err()
        {
            self.op_errors = self.op_errors.saturating_add(1);
        }
    }

    fn set_disk(&mut self, array: &mut ArrayRecord, slot: u32, state: DiskState) {
        let container = &mut self.container;
        match with_input(array, |a| {
            container.set_disk(a, slot as usize, state.bits())
        }) {
            Ok(out) => array.last_checkpoint = out.last_checkpoint,
            Err(_) => self.op_errors = self.op_errors.saturating_add(1),
        }
    }
}

impl ContainerMetadata for ImsmMetadata {
    type Update = PreparedUpdate;

    fn process_update(&mut self, update: PreparedUpdate, arrays: &mut [&mut ArrayRecord]) {
        let mut active: Vec<usize, { crate::imsm::model::MAX_VOLUMES }> = Vec::new();
        for a in arrays.iter().filter(|a| a.live) {
            let _ = active.push(a.inst as usize);
        }
        match self.container.process_update(update, &active) {
            Ok(out) => {
                if out.check_degraded_all {
                    for a in arrays.iter_mut() {
                        a.check_degraded = true;
                    }
                }
            }
            Err(_) => self.op_errors = self.op_errors.saturating_add(1),
        }
    }

    fn sync_buffer_len(&self) -> usize {
        crate::imsm::container::sync_buffer_len(self.container.sector_size as usize)
    }

    fn sync(
        &mut self,
        buf: &mut [u8],
        writes: &mut Vec<DiskWrite, MAX_DISK_WRITES>,
    ) -> Result<bool, SyncError> {
        writes.clear();
        let plan = match self.container.sync_metadata(buf) {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok(false),
            Err(crate::imsm::error::EncodeError::BufferTooSmall { .. }) => {
                return Err(SyncError::BufferTooSmall)
            }
            Err(_) => return Err(SyncError::Encode),
        };
        for w in plan.writes.iter() {
            writes
                .push(DiskWrite {
                    disk: w.member,
                    offset: w.offset,
                    buf_start: w.buf_start,
                    len: w.len,
                    wave: 0,
                })
                .map_err(|_| SyncError::TooManyWrites)?;
        }
        #[cfg(feature = "crash-mutant")]
        crash_mutant(&self.container, writes);
        #[cfg(not(feature = "crash-mutant"))]
        if plan.multi_sector {
            sequence_torn_copies(&self.container, writes);
        } else {
            joining_first(&self.container, writes);
        }
        Ok(true)
    }

    fn op_errors(&self) -> u32 {
        self.op_errors
    }

    fn mark_unwritten(&mut self) {
        self.container.touch();
    }

    type Snapshot = Container;

    fn snapshot_into(&self, dst: &mut Container) {
        // Known cost: `clone_from` builds the copy on the monitor's stack first; a
        // field-wise copy would avoid that (the stack is sized for it meanwhile).
        dst.clone_from(&self.container);
    }
}

#[cfg(feature = "crash-mutant")]
const _: () = assert!(
    option_env!("MDMON_CRASH_MUTANT").is_some(),
    "the crash-mutant feature is for `cargo xtask crash --mutant` only"
);

/// The write order the crash harness must reject: every disk in one wave, and each copy
/// written anchor first, then its extended sectors (so a cut between leaves a new anchor
/// over old extended sectors on every disk at once).
#[cfg(feature = "crash-mutant")]
fn crash_mutant(c: &Container, writes: &mut Vec<DiskWrite, MAX_DISK_WRITES>) {
    let lss = c.sector_size as usize;
    let ext = c.mpb.sectors(c.sector_size).saturating_sub(1) * lss;
    let mut out: Vec<DiskWrite, MAX_DISK_WRITES> = Vec::new();
    for w in writes.iter() {
        if ext == 0 || w.len <= lss {
            let _ = out.push(*w);
            continue;
        }
        let anchor = DiskWrite {
            offset: w.offset + ext as u64,
            buf_start: w.buf_start + ext,
            len: w.len - ext,
            ..*w
        };
        let _ = out.push(anchor);
        let _ = out.push(DiskWrite { len: ext, ..*w });
    }
    *writes = out;
}

/// Waves for a sync whose MPB spans several sectors: a member's copy is then new and old
/// at once until its write completes, fails its checksum, and mdadm leaves that disk out of
/// the container. Two disks that hold a member of the same volume never share a wave, so a
/// power cut tears at most one member of each volume: the volume still starts (degraded),
/// and every other disk holds the old or the new copy whole (docs/imsm.md, "Torn writes").
/// Disks that share no volume (spares, disjoint volumes) go out together. A one-sector MPB
/// (one atomic sector) goes to every disk at once.
#[cfg_attr(feature = "crash-mutant", allow(dead_code))]
fn sequence_torn_copies(c: &Container, writes: &mut Vec<DiskWrite, MAX_DISK_WRITES>) {
    // (disk, wave, volumes it holds) in the order disks are placed; each disk takes the
    // first wave none of whose disks shares a volume with it. Disks joining a volume (a
    // spare being rebuilt in) are placed first, so they are written before the members that
    // list them: when a spare is activated mdadm changes the family number, and a cut after
    // a listing member's copy but before the new member's leaves the new member with its
    // old spare record, a family of its own, and mdadm's family vote then keeps that spare
    // record and no volume (docs/imsm.md, "Torn writes"; found by `cargo xtask crash`).
    let mut placed: Vec<(u32, u8, u8), MAX_DISK_WRITES> = Vec::new();
    for joining_pass in [true, false] {
        for i in 0..writes.len() {
            let Some(disk) = writes.get(i).map(|w| w.disk) else {
                break;
            };
            if placed.iter().any(|p| p.0 == disk) || joining(c, disk) != joining_pass {
                continue;
            }
            let held = volumes_held(c, disk);
            let mut wave = 0u8;
            while wave < u8::MAX && placed.iter().any(|p| p.1 == wave && p.2 & held != 0) {
                wave += 1;
            }
            // At most one entry per write: cannot overflow.
            let _ = placed.push((disk, wave, held));
        }
    }
    for w in writes.iter_mut() {
        if let Some(&(_, wave, _)) = placed.iter().find(|p| p.0 == w.disk) {
            w.wave = wave;
        }
    }
}

/// A one-sector copy cannot tear, but the order against a family change still matters:
/// disks joining a volume go in a first wave of their own and every other disk after
/// them, as `sequence_torn_copies` places them for larger copies. On 4096-byte-sector
/// disks a copy with a rebuild migration still fits one sector; written all at once, a cut
/// after the surviving member's copy but before the new member's left the spare record's
/// family the vote's winner and no volume (docs/imsm.md, "Torn writes"; found by `cargo
/// xtask crash --workload imsm2-4k`). Without a joining disk: one wave, as before.
#[cfg_attr(feature = "crash-mutant", allow(dead_code))]
fn joining_first(c: &Container, writes: &mut [DiskWrite]) {
    // Asked twice rather than collected: heapless' `collect` panics past its capacity,
    // which the monitor path must not reach (cargo xtask audit).
    if !writes.iter().any(|w| joining(c, w.disk)) {
        return;
    }
    for w in writes.iter_mut() {
        w.wave = if joining(c, w.disk) { 0 } else { 1 };
    }
}

/// Whether disk `m` is being rebuilt into some volume (an ord of it carries the rebuild flag).
#[cfg_attr(feature = "crash-mutant", allow(dead_code))]
fn joining(c: &Container, m: u32) -> bool {
    let Some(index) = table_index(c, m) else {
        return false;
    };
    // The source map (map1 while the rebuild migrates) marks the slot being rebuilt; a
    // failed disk carries the flag too, but failed disks are not written.
    let flagged = |map: &crate::imsm::model::Map| {
        map.slot_of(index)
            .and_then(|s| map.ord(s))
            .is_some_and(|ord| ord & crate::imsm::layout::ORD_REBUILD != 0)
    };
    c.mpb
        .volumes
        .iter()
        .any(|vol| flagged(&vol.map0) || vol.map1.as_ref().is_some_and(flagged))
}

/// The disk-table index of disk `m`, if it is a table member.
#[cfg_attr(feature = "crash-mutant", allow(dead_code))]
fn table_index(c: &Container, m: u32) -> Option<u32> {
    c.disks
        .iter()
        .find(|d| d.member == m)
        .and_then(|d| match d.slot {
            crate::imsm::container::DiskSlot::Table(i) => Some(u32::from(i)),
            _ => None,
        })
}

#[cfg_attr(feature = "crash-mutant", allow(dead_code))]
fn volumes_held(c: &Container, m: u32) -> u8 {
    let Some(index) = table_index(c, m) else {
        return 0;
    };
    let mut held = 0u8;
    for (v, vol) in c.mpb.volumes.iter().enumerate() {
        let in_map = |map: &crate::imsm::model::Map| map.slot_of(index).is_some();
        if in_map(&vol.map0) || vol.map1.as_ref().is_some_and(in_map) {
            held |= 1u8.checked_shl(v as u32).unwrap_or(0);
        }
    }
    held
}
