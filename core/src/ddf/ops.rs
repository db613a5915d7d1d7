//! Handler operations over the model (docs/ddf.md; docs/monitor.md, "The handler's view").
//!
//! Inputs are plain values the shell reads from sysfs; outputs say what changed and what the
//! shell must do next (check for degraded arrays, add spares). Changes only touch the model
//! and mark it pending; [`Container::begin_sync`] + [`Container::write_disk`] write them.

use bitflags::bitflags;
use heapless::Vec;

use super::layout::{Guid, LOST_REFNUM, UNUSED_REFNUM};
use super::model::{
    Bvd, ConfigSlot, Container, DiskId, PdState, PdType, VdState, INIT_FULL, INIT_NOT_INITIALISED,
    INIT_QUICK, INIT_STATE_MASK, VD_NOT_CONSISTENT,
};
use super::MAX_DISKS;

/// Primary RAID level codes (docs/ddf.md, "RAID levels").
pub mod prl {
    pub const RAID0: u8 = 0x00;
    pub const RAID1: u8 = 0x01;
    pub const RAID3: u8 = 0x03;
    pub const RAID4: u8 = 0x04;
    pub const RAID5: u8 = 0x05;
    pub const RAID6: u8 = 0x06;
    pub const JBOD: u8 = 0x0F;
    pub const RAID1E: u8 = 0x11;
    pub const RAID5E: u8 = 0x15;
    pub const CONCAT: u8 = 0x1F;
    pub const RAID5EE: u8 = 0x25;
}

/// Secondary RAID level codes.
pub mod srl {
    pub const STRIPED: u8 = 0;
    pub const MIRRORED: u8 = 1;
    pub const CONCAT: u8 = 2;
    pub const SPANNED: u8 = 3;
}

bitflags! {
    /// md member state bits (`dev-X/state`, mdadm's DS_*), as far as the handler uses them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DeviceState: u32 {
        const FAULTY = 1;
        const IN_SYNC = 2;
        const WRITE_MOSTLY = 4;
        const SPARE = 8;
        const BLOCKED = 16;
    }
}

/// The `consistent` argument of `set_array_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// 0: the array is (about to be) dirty.
    Dirty,
    /// 1: the array is clean.
    Clean,
    /// 2: the array is leaving read-only; mark missing members failed first.
    Activate,
}

/// How far the initial resync has come (from md's `resync_start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncProgress {
    NotStarted,
    InProgress,
    Complete,
}

/// mdmon's `is_resync_complete` (docs/monitor.md, "The handler's view") turned into the
/// three cases DDF records (docs/ddf.md, "Dirty and clean"). `resync_start` is in sectors,
/// `u64::MAX` meaning "none".
pub fn resync_progress(
    resync_start: u64,
    component_size: u64,
    level: i32,
    layout: u32,
    raid_disks: u32,
) -> ResyncProgress {
    let end = match level {
        1 | 4 | 5 | 6 => Some(component_size),
        10 => {
            let copies = u64::from(layout & 0xFF) * u64::from((layout >> 8) & 0xFF);
            component_size
                .saturating_mul(u64::from(raid_disks))
                .checked_div(copies)
        }
        _ => None,
    };
    let complete = match end {
        Some(end) => resync_start >= end,
        None => true,
    };
    if complete {
        ResyncProgress::Complete
    } else if resync_start == 0 {
        ResyncProgress::NotStarted
    } else {
        ResyncProgress::InProgress
    }
}

/// Something an operation could not work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpError {
    /// VD entry `vcnum` is unused or has no configuration record.
    NoSuchVolume { vcnum: u16 },
    /// A device of the md array is not a container member with a PD entry.
    UnknownDevice { id: DiskId },
    /// The caller's update buffer is too small for the VD_CONF update.
    BufferTooSmall { needed: usize },
}

/// What an operation changed and asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Metadata changed (pending write).
    pub changed: bool,
    /// The manager should look for spares for this array.
    pub check_degraded: bool,
}

/// Member devices of an md array that `open_new` found unusable: the shell writes `faulty`
/// to their `state`.
pub type FaultyList = Vec<DiskId, MAX_DISKS>;

/// md-side facts about one member array, for spare activation.
#[derive(Debug, Clone, Copy)]
pub struct ArrayInfo<'a> {
    pub vcnum: u16,
    /// md level (-1 linear, 0, 1, 4, 5, 6, 10).
    pub level: i32,
    pub layout: u32,
    pub raid_disks: u32,
    /// Sectors per member.
    pub component_size: u64,
    /// Currently attached members (those with an open `state` fd).
    pub members: &'a [ArrayMember],
}

/// One attached member of an md array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayMember {
    pub slot: u32,
    pub id: DiskId,
    pub faulty: bool,
}

/// A disk chosen by [`Container::activate_spare`]: add it to md at `slot` with
/// `recovery_start` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpareChoice {
    pub slot: u32,
    pub id: DiskId,
    /// Start sector of the new member's extent.
    pub data_offset: u64,
    /// Sectors (the array's component size).
    pub size: u64,
}

/// Result of a successful spare activation: the disks to add and the VD_CONF update
/// (`update_len` bytes at the start of the caller's buffer) to queue for the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparePlan {
    pub choices: Vec<SpareChoice, MAX_DISKS>,
    pub update_len: usize,
}

/// Spare candidates in order of preference.
///
/// Upstream has two passes: dedicated spares, then global spares and free space on any
/// non-failed disk alike, in disk-list order. Here global spares come before free space on disks
/// that already serve other VDs: a spare is what the administrator set aside for this, and
/// using it keeps the other disks' load unchanged. Free space is still used when no spare fits
/// (docs/ddf.md, "Spare preference"). On the rig this picks what the C mdmon picked (fixture
/// 04-failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpareClass {
    Dedicated,
    Global,
    FreeSpace,
}

/// md's RAID10 availability rule (`enough()`): walking the members in windows of `copies`,
/// every window needs one working member.
fn raid10_enough(avail: &[bool], copies: usize) -> bool {
    let n = avail.len();
    if n == 0 || copies == 0 {
        return false;
    }
    let mut first = 0usize;
    // The walk returns to 0 after lcm(n, copies) steps; n·copies bounds it.
    for _ in 0..n.saturating_mul(copies) {
        let mut cnt = 0;
        for _ in 0..copies {
            if avail.get(first).copied().unwrap_or(false) {
                cnt += 1;
            }
            first = (first + 1) % n;
        }
        if cnt == 0 {
            return false;
        }
        if first == 0 {
            return true;
        }
    }
    true
}

/// The secondary-level fold of two BVD states (`secondary_state`).
fn fold_secondary(state: VdState, other: VdState, level: u8) -> VdState {
    use VdState::*;
    if state == Optimal && other == Optimal {
        return Optimal;
    }
    if level == srl::MIRRORED {
        if state == Optimal || other == Optimal {
            return PartiallyOptimal;
        }
        if state == Failed && other == Failed {
            return Failed;
        }
        Degraded
    } else {
        if state == Failed || other == Failed {
            return Failed;
        }
        if state == Degraded || other == Degraded {
            return Degraded;
        }
        PartiallyOptimal
    }
}

impl Container {
    /// State of one BVD from the PD states of its members (`get_bvd_state`).
    pub fn bvd_state(&self, bvd: &Bvd) -> VdState {
        self.bvd_state_without(bvd, None)
    }

    /// [`Self::bvd_state`] as it would be if the disk `without` (a refnum) did not work.
    fn bvd_state_without(&self, bvd: &Bvd, without: Option<u32>) -> VdState {
        let n = bvd.prim_count();
        let mut avail = [false; super::MAX_PRIMARY_ELEMENTS];
        let mut working = 0usize;
        for (i, e) in bvd.members().enumerate() {
            if Some(e.refnum) != without && self.refnum_state(e.refnum).is_working() {
                working += 1;
                if let Some(a) = avail.get_mut(i) {
                    *a = true;
                }
            }
        }
        if working == n {
            return VdState::Optimal;
        }
        match bvd.fixed.prl {
            prl::RAID0 | prl::CONCAT | prl::JBOD => VdState::Failed,
            prl::RAID1 if working == 0 => VdState::Failed,
            prl::RAID1 if working >= 2 => VdState::PartiallyOptimal,
            prl::RAID1E => {
                // Both RAID1E layouts md knows (near 2, far 2) keep two copies.
                if raid10_enough(avail.get(..n).unwrap_or(&[]), 2) {
                    VdState::Degraded
                } else {
                    VdState::Failed
                }
            }
            prl::RAID4 | prl::RAID5 if working + 1 < n => VdState::Failed,
            prl::RAID6 if working + 2 < n => VdState::Failed,
            prl::RAID6 if working + 1 == n => VdState::PartiallyOptimal,
            _ => VdState::Degraded,
        }
    }

    /// State of a whole VD (`get_svd_state`): BVD states folded in BVD order. A BVD that was
    /// never seen counts as Failed (its members cannot be reached).
    pub fn volume_state(&self, guid: &Guid) -> Option<VdState> {
        self.volume_state_without(guid, None)
    }

    /// [`Self::volume_state`] as it would be if the disk `without` (a refnum) did not work.
    fn volume_state_without(&self, guid: &Guid, without: Option<u32>) -> Option<VdState> {
        let vol = self.volume(guid)?;
        let state_of = |i: u8| {
            self.bvd(guid, i)
                .map(|b| self.bvd_state_without(b, without))
                .unwrap_or(VdState::Failed)
        };
        let level = self
            .bvd(guid, 0)
            .map(|b| b.fixed.srl)
            .unwrap_or(srl::STRIPED);
        let mut state = state_of(0);
        for i in 1..vol.sec_count {
            state = fold_secondary(state, state_of(i), level);
        }
        Some(state)
    }

    /// (BVD index, raw element slot) of md slot `n` (`find_vdcr`). Uses the primary count to
    /// split the slot, where upstream divides by the secondary count: wrong for RAID10 whose
    /// mirror count differs from its copy count, right everywhere else (docs/ddf.md, "Slot
    /// to element in multi-BVD volumes").
    pub fn slot_element(&self, guid: &Guid, n: u32) -> Option<(u8, usize)> {
        let vol = self.volume(guid)?;
        let first = self.bvd(guid, 0)?;
        let prim = first.prim_count();
        let n = usize::try_from(n).ok()?;
        let (bvd_idx, e) = if vol.sec_count <= 1 {
            (0usize, n)
        } else {
            // A record with no primary elements has no slot n (and no panic).
            (n.checked_div(prim)?, n.checked_rem(prim)?)
        };
        let bvd_idx = u8::try_from(bvd_idx).ok()?;
        if bvd_idx >= vol.sec_count.max(1) || e >= prim {
            return None;
        }
        let bvd = self.bvd(guid, bvd_idx)?;
        Some((bvd_idx, bvd.element_slot(e)?))
    }

    fn volume_guid(&self, vcnum: u16) -> Result<Guid, OpError> {
        let guid = self.vd_guid(vcnum).ok_or(OpError::NoSuchVolume { vcnum })?;
        self.volume(&guid).ok_or(OpError::NoSuchVolume { vcnum })?;
        Ok(guid)
    }

    /// Mark pending, first bumping BVD `bvd` of `guid` (mdadm's `ddf_set_updates_pending(vc)`).
    fn mark_pending_bump(&mut self, guid: &Guid, bvd: u8, now: u32) {
        if let Some(b) = self.bvd_mut(guid, bvd) {
            b.bump(now);
        }
        self.mark_pending();
    }

    /// Store `state` in the low bits of VD entry `vcnum`; true if that changed it.
    fn store_vd_state(&mut self, vcnum: u16, state: VdState) -> bool {
        let Some(e) = self.vds.get_mut(usize::from(vcnum)) else {
            return false;
        };
        let new = (e.state & !VdState::MASK) | state.bits();
        let changed = new != e.state;
        e.state = new;
        changed
    }

    /// `open_new`: check that VD `vcnum` exists and that every md member is a container disk
    /// with a PD entry. Members whose PD state is not plain Online (no Failed/Missing) are
    /// returned: the shell writes `faulty` to them and treats them as faulty.
    pub fn open_new(&self, vcnum: u16, devices: &[DiskId]) -> Result<FaultyList, OpError> {
        self.vd_guid(vcnum).ok_or(OpError::NoSuchVolume { vcnum })?;
        let mut faulty = FaultyList::new();
        for &id in devices {
            let pd = self
                .disk_by_id(id)
                .and_then(|d| self.disks.get(d))
                .and_then(|d| d.pd_index)
                .ok_or(OpError::UnknownDevice { id })?;
            if !self.pd_state(usize::from(pd)).is_usable() {
                // Capacity equals the container's disk capacity; devices are container disks.
                let _ = faulty.push(id);
            }
        }
        Ok(faulty)
    }

    /// `set_array_state` (docs/ddf.md, "Dirty and clean"). Returns the consistency recorded
    /// (true = clean).
    pub fn set_array_state(
        &mut self,
        vcnum: u16,
        consistency: Consistency,
        progress: ResyncProgress,
        now: u32,
    ) -> Result<(bool, Outcome), OpError> {
        self.vd_guid(vcnum).ok_or(OpError::NoSuchVolume { vcnum })?;
        let mut out = Outcome::default();
        let clean = match consistency {
            Consistency::Dirty => false,
            Consistency::Clean => true,
            Consistency::Activate => {
                let o = self.handle_missing(vcnum, now);
                out.changed |= o.changed;
                out.check_degraded |= o.check_degraded;
                progress == ResyncProgress::Complete
            }
        };
        let Some(e) = self.vds.get_mut(usize::from(vcnum)) else {
            return Err(OpError::NoSuchVolume { vcnum });
        };
        let old = e.state;
        if clean {
            e.state &= !VD_NOT_CONSISTENT;
        } else {
            e.state |= VD_NOT_CONSISTENT;
        }
        let state_changed = old != e.state;
        let old_init = e.init_state;
        let init = match progress {
            ResyncProgress::Complete => INIT_FULL,
            ResyncProgress::NotStarted => INIT_NOT_INITIALISED,
            ResyncProgress::InProgress => INIT_QUICK,
        };
        e.init_state = (e.init_state & !INIT_STATE_MASK) | init;
        let init_changed = old_init != e.init_state;
        if state_changed || init_changed {
            self.mark_pending();
            out.changed = true;
        }
        Ok((clean, out))
    }

    /// Mark members that are not present as failed+missing and record the VD state
    /// (`handle_missing`, run when an array is activated).
    pub fn handle_missing(&mut self, vcnum: u16, now: u32) -> Outcome {
        let mut out = Outcome::default();
        let Ok(guid) = self.volume_guid(vcnum) else {
            return out;
        };
        let mut n = 0u32;
        while let Some((bvd_idx, raw)) = self.slot_element(&guid, n) {
            n += 1;
            let refnum = self
                .bvd(&guid, bvd_idx)
                .and_then(|b| b.elements.get(raw))
                .map(|e| e.refnum);
            let Some(refnum) = refnum else { continue };
            if self.disk_by_refnum(refnum).is_some() {
                continue;
            }
            if let Some(pd) = self.pd_by_refnum(refnum) {
                let s = self.pd_state(pd);
                if s.contains(PdState::ONLINE) {
                    self.set_pd_state(
                        pd,
                        (s - PdState::ONLINE) | PdState::FAILED | PdState::MISSING,
                    );
                    if let Some(e) = self
                        .bvd_mut(&guid, bvd_idx)
                        .and_then(|b| b.elements.get_mut(raw))
                    {
                        e.refnum = LOST_REFNUM;
                    }
                    self.mark_pending_bump(&guid, bvd_idx, now);
                    out.changed = true;
                }
            }
            if let Some(state) = self.volume_state(&guid) {
                if self.store_vd_state(vcnum, state) {
                    out.check_degraded = true;
                    out.changed = true;
                    self.mark_pending_bump(&guid, bvd_idx, now);
                }
            }
        }
        out
    }

    /// `set_disk` (docs/ddf.md, "Member state changes"): the kernel reports `bits` for md slot
    /// `slot`, held by `device` (its container identity and data offset), or by nothing.
    pub fn set_disk(
        &mut self,
        vcnum: u16,
        slot: u32,
        device: Option<(DiskId, u64)>,
        bits: DeviceState,
        now: u32,
    ) -> Result<Outcome, OpError> {
        let guid = self.volume_guid(vcnum)?;
        let mut out = Outcome::default();
        let Some((bvd_idx, raw)) = self.slot_element(&guid, slot) else {
            return Ok(out);
        };
        let Some((id, data_offset)) = device else {
            return Ok(out);
        };
        let disk = self.disk_by_id(id).ok_or(OpError::UnknownDevice { id })?;
        let (disk_pd, disk_ref) = match self.disks.get(disk) {
            Some(d) => (d.pd_index.map(usize::from), d.refnum()),
            None => return Err(OpError::UnknownDevice { id }),
        };
        let elem_ref = self
            .bvd(&guid, bvd_idx)
            .and_then(|b| b.elements.get(raw))
            .map(|e| e.refnum)
            .unwrap_or(UNUSED_REFNUM);
        let elem_pd = self.pd_by_refnum(elem_ref);
        let mut update = false;
        if elem_pd.is_none() || elem_pd != disk_pd {
            // A different disk now holds the slot (recovery onto a spare): record it once md
            // says it is in sync.
            if bits.contains(DeviceState::IN_SYNC) && !bits.contains(DeviceState::FAULTY) {
                if let Some(pd) = disk_pd {
                    if let Some(e) = self
                        .bvd_mut(&guid, bvd_idx)
                        .and_then(|b| b.elements.get_mut(raw))
                    {
                        e.refnum = disk_ref;
                        e.lba = data_offset;
                    }
                    let t = self.pd_type(pd);
                    self.set_pd_type(pd, (t - PdType::GLOBAL_SPARE) | PdType::ACTIVE);
                    // Upstream does not touch the disk's VD list here, so the record would
                    // not be written to the very disk it now lists (docs/ddf.md, "A disk
                    // carries the records that name it") until some VD_CONF rebuilds the
                    // lists; give it the slot now.
                    self.ensure_volume_slot(disk, &guid);
                    update = true;
                }
            }
        } else if let Some(pd) = elem_pd {
            let old = self.pd_state(pd);
            let mut s = old;
            if bits.contains(DeviceState::FAULTY) {
                s |= PdState::FAILED;
            }
            if bits.contains(DeviceState::IN_SYNC) {
                s |= PdState::ONLINE;
                // In sync in this VD only: a rebuild into another VD keeps the bit.
                if !self.end_rebuild(disk, &guid) {
                    s -= PdState::REBUILDING;
                }
            }
            if s != old {
                self.set_pd_state(pd, s);
                update = true;
                if old.contains(PdState::REBUILDING) && !s.contains(PdState::REBUILDING) {
                    // The disk now counts as working in every VD that lists it; those whose
                    // rebuild ended earlier read Degraded until now.
                    self.restate_volumes_listing(disk_ref, &guid, now, &mut out);
                }
            }
        }
        if let Some(state) = self.volume_state(&guid) {
            if self.store_vd_state(vcnum, state) {
                update = true;
            }
        }
        if update {
            self.mark_pending_bump(&guid, bvd_idx, now);
            out.changed = true;
        }
        Ok(out)
    }

    /// Recompute and store the state of every VD other than `except` that lists `refnum`
    /// (the disk's PD state changed under them), bumping each VD whose state changed.
    pub(crate) fn restate_volumes_listing(
        &mut self,
        refnum: u32,
        except: &Guid,
        now: u32,
        out: &mut Outcome,
    ) {
        let mut guids: Vec<Guid, { super::MAX_VOLUMES }> = Vec::new();
        for v in self.volumes.iter() {
            if &v.guid != except && self.bvd_listing(&v.guid, refnum).is_some() {
                let _ = guids.push(v.guid);
            }
        }
        for g in guids.iter() {
            let (Some(vcnum), Some(state)) = (self.vcnum_of(g), self.volume_state(g)) else {
                continue;
            };
            if self.store_vd_state(vcnum, state) {
                let bvd = self
                    .bvd_listing(g, refnum)
                    .map(|b| b.bvd_index())
                    .unwrap_or(0);
                self.mark_pending_bump(g, bvd, now);
                out.changed = true;
            }
        }
    }

    /// Make disk `d` carry VD `guid`'s record: first free slot among the first
    /// `max_partitions` (the VD record slots), unless it already has one.
    pub(crate) fn ensure_volume_slot(&mut self, d: usize, guid: &Guid) {
        let max_part = usize::from(self.header.max_partitions.get());
        let Some(disk) = self.disks.get_mut(d) else {
            return;
        };
        if disk.slots.contains(&ConfigSlot::Volume(*guid)) {
            return;
        }
        if let Some(s) = disk
            .slots
            .iter_mut()
            .take(max_part)
            .find(|s| **s == ConfigSlot::Empty)
        {
            *s = ConfigSlot::Volume(*guid);
        }
    }

    /// Extents `(start, sectors)` this disk already gives to VDs, sorted by start.
    fn extents(&self, refnum: u32, out: &mut Vec<(u64, u64), { super::MAX_BVDS }>) {
        out.clear();
        for b in self.bvds.iter() {
            if let Some((raw, _)) = b.find_refnum(refnum) {
                if let Some(e) = b.elements.get(raw) {
                    let _ = out.push((e.lba, b.blocks()));
                }
            }
        }
        crate::total::sort_small(out);
    }

    /// First-fit free extent of at least `size` sectors below `config_size` on disk `d`
    /// (`find_space`); None if the disk is not plainly Online or has no room.
    fn find_space(&self, d: usize, size: u64) -> Option<u64> {
        let disk = self.disks.get(d)?;
        let pd = usize::from(disk.pd_index?);
        if !self.pd_state(pd).is_usable() {
            return None;
        }
        let limit = self.pds.get(pd)?.config_size.get();
        let mut ext = Vec::new();
        self.extents(disk.refnum(), &mut ext);
        let mut pos = 0u64;
        for (start, len) in ext.iter().copied().chain(core::iter::once((limit, 0))) {
            if start >= pos && start - pos >= size {
                return Some(pos);
            }
            pos = pos.max(start.saturating_add(len));
        }
        None
    }

    /// `activate_spare` (docs/ddf.md, "Spare activation"): choose disks for the array's empty
    /// slots and build the VD_CONF update recording them into `update_buf`. `Ok(None)`:
    /// nothing to do now.
    ///
    /// Differences from upstream: a disk is chosen at most once per call (upstream may ask
    /// the kernel to add one disk twice; docs/ddf.md, "A disk chosen once per spare
    /// activation"); BVDs/elements are addressed by BVD index and valid-entry counting
    /// ("BVDs addressed by their index"); global spares are preferred over free space on
    /// disks active in other VDs (see `SpareClass`).
    pub fn activate_spare(
        &self,
        a: &ArrayInfo<'_>,
        update_buf: &mut [u8],
    ) -> Result<Option<SparePlan>, OpError> {
        let guid = self.volume_guid(a.vcnum)?;
        if a.members.iter().any(|m| m.faulty) {
            return Ok(None); // wait for the faulty member to be removed
        }
        let working = a.members.len();
        let n = a.raid_disks as usize;
        if working >= n {
            return Ok(None);
        }
        let repairable = match a.level {
            1 => working > 0,
            4 | 5 => working + 1 >= n,
            6 => working + 2 >= n,
            10 => raid10_repairable(a),
            _ => false,
        };
        if !repairable {
            return Ok(None);
        }
        let mut choices: Vec<SpareChoice, MAX_DISKS> = Vec::new();
        for slot in 0..a.raid_disks {
            if a.members.iter().any(|m| m.slot == slot) {
                continue;
            }
            let pick = [
                SpareClass::Dedicated,
                SpareClass::Global,
                SpareClass::FreeSpace,
            ]
            .into_iter()
            .find_map(|class| self.pick_spare(&guid, a, &choices, class));
            if let Some((id, data_offset)) = pick {
                if choices
                    .push(SpareChoice {
                        slot,
                        id,
                        data_offset,
                        size: a.component_size,
                    })
                    .is_err()
                {
                    break;
                }
            }
        }
        if choices.is_empty() {
            return Ok(None);
        }
        let update_len = self.build_conf_update(&guid, &choices, update_buf)?;
        Ok(Some(SparePlan {
            choices,
            update_len,
        }))
    }

    /// The first disk (in container order) of `class` with room for a member.
    fn pick_spare(
        &self,
        guid: &Guid,
        a: &ArrayInfo<'_>,
        taken: &[SpareChoice],
        class: SpareClass,
    ) -> Option<(DiskId, u64)> {
        for (i, d) in self.disks.iter().enumerate() {
            let Some(pd) = d.pd_index.map(usize::from) else {
                continue;
            };
            if !self.pd_state(pd).is_usable() {
                continue;
            }
            if a.members.iter().any(|m| m.id == d.id) || taken.iter().any(|c| c.id == d.id) {
                continue;
            }
            let t = self.pd_type(pd);
            let is = if t.contains(PdType::SPARE) {
                match &d.spare {
                    Some(s) if s.is_dedicated() => {
                        if s.lists(guid) {
                            SpareClass::Dedicated
                        } else {
                            continue;
                        }
                    }
                    Some(_) => SpareClass::Global,
                    None => continue,
                }
            } else if t.contains(PdType::GLOBAL_SPARE) {
                SpareClass::Global
            } else {
                SpareClass::FreeSpace
            };
            if is != class {
                continue;
            }
            if self.needed_elsewhere(guid, d.refnum()) {
                continue;
            }
            if let Some(pos) = self.find_space(i, a.component_size) {
                return Some((d.id, pos));
            }
        }
        None
    }

    /// Whether disk `refnum` is what keeps some VD other than `target` startable. Being
    /// rebuilt into `target` sets its PD entry's Rebuilding bit, and mdadm leaves a
    /// Rebuilding disk out of every VD, so a power cut before the rebuild ends would leave
    /// that other VD with no member mdadm starts (docs/ddf.md, "A disk in two volumes").
    fn needed_elsewhere(&self, target: &Guid, refnum: u32) -> bool {
        self.volumes.iter().any(|v| {
            &v.guid != target
                && self.bvd_listing(&v.guid, refnum).is_some()
                && self.volume_state(&v.guid) != Some(VdState::Failed)
                && self.volume_state_without(&v.guid, Some(refnum)) == Some(VdState::Failed)
        })
    }

    /// Serialise the VD's BVDs (in BVD order) with the chosen disks filled in.
    fn build_conf_update(
        &self,
        guid: &Guid,
        choices: &[SpareChoice],
        buf: &mut [u8],
    ) -> Result<usize, OpError> {
        let vol = self
            .volume(guid)
            .ok_or(OpError::NoSuchVolume { vcnum: 0 })?;
        let first = self
            .bvd(guid, 0)
            .ok_or(OpError::NoSuchVolume { vcnum: 0 })?;
        let rec = first.encoded_len();
        let count = usize::from(vol.sec_count.max(1));
        let needed = rec * count;
        let out = buf
            .get_mut(..needed)
            .ok_or(OpError::BufferTooSmall { needed })?;
        let prim = first.prim_count().max(1);
        for (i, chunk) in out.chunks_exact_mut(rec).enumerate() {
            let Some(mut b) = u8::try_from(i)
                .ok()
                .and_then(|i| self.bvd(guid, i))
                .cloned()
            else {
                return Err(OpError::NoSuchVolume { vcnum: 0 });
            };
            for c in choices {
                let slot = c.slot as usize;
                let (bi, e) = if count == 1 {
                    (0, slot)
                } else {
                    (slot / prim, slot % prim)
                };
                if bi != i {
                    continue;
                }
                let raw = b
                    .element_slot(e)
                    .or_else(|| (e < b.elements.len()).then_some(e));
                let refnum = self
                    .disk_by_id(c.id)
                    .and_then(|d| self.disks.get(d))
                    .map(|d| d.refnum());
                if let (Some(raw), Some(refnum)) = (raw, refnum) {
                    if let Some(el) = b.elements.get_mut(raw) {
                        el.refnum = refnum;
                        el.lba = c.data_offset;
                    }
                }
            }
            if !b.encode(chunk) {
                return Err(OpError::BufferTooSmall { needed });
            }
        }
        Ok(needed)
    }
}

/// mdadm's `raid10_degraded` ≥ 1: every mirror group has an attached member. Groups are
/// `layout & !0x100` slots wide; other layouts (e.g. far 0x201) make upstream bail out.
fn raid10_repairable(a: &ArrayInfo<'_>) -> bool {
    let width = (a.layout & !0x100) as usize;
    if width == 0 || width > super::MAX_PRIMARY_ELEMENTS {
        return false;
    }
    let groups = a.raid_disks as usize / width;
    let mut found = [0u16; super::MAX_PRIMARY_ELEMENTS];
    for m in a.members {
        let g = m.slot as usize / width;
        if g >= groups {
            return false;
        }
        if let Some(f) = found.get_mut(g) {
            *f += 1;
        }
    }
    found.iter().take(groups).all(|&f| f > 0)
}

impl core::fmt::Display for OpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpError::NoSuchVolume { vcnum } => write!(f, "no virtual disk {vcnum}"),
            OpError::UnknownDevice { id } => write!(f, "device {:#x} is not a DDF member", id.0),
            OpError::BufferTooSmall { needed } => write!(f, "update buffer needs {needed} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raid10_rule_near2() {
        assert!(raid10_enough(&[true, false, true, false], 2));
        assert!(!raid10_enough(&[false, false, true, true], 2));
        assert!(raid10_enough(&[true, true, true, true], 2));
    }

    #[test]
    fn secondary_fold_matches_table() {
        use VdState::*;
        assert_eq!(fold_secondary(Optimal, Optimal, srl::SPANNED), Optimal);
        assert_eq!(fold_secondary(Optimal, Degraded, srl::SPANNED), Degraded);
        assert_eq!(fold_secondary(Failed, Optimal, srl::STRIPED), Failed);
        assert_eq!(
            fold_secondary(Optimal, PartiallyOptimal, srl::STRIPED),
            PartiallyOptimal
        );
        assert_eq!(
            fold_secondary(Optimal, Failed, srl::MIRRORED),
            PartiallyOptimal
        );
        assert_eq!(fold_secondary(Failed, Failed, srl::MIRRORED), Failed);
        assert_eq!(fold_secondary(Degraded, Failed, srl::MIRRORED), Degraded);
    }

    #[test]
    fn resync_progress_cases() {
        assert_eq!(
            resync_progress(u64::MAX, 100, 1, 0, 2),
            ResyncProgress::Complete
        );
        assert_eq!(resync_progress(0, 100, 5, 2, 3), ResyncProgress::NotStarted);
        assert_eq!(
            resync_progress(50, 100, 5, 2, 3),
            ResyncProgress::InProgress
        );
        // RAID10 near 2 over 4 disks: 200 sectors of array to resync.
        assert_eq!(
            resync_progress(150, 100, 10, 0x102, 4),
            ResyncProgress::InProgress
        );
        assert_eq!(
            resync_progress(200, 100, 10, 0x102, 4),
            ResyncProgress::Complete
        );
        // RAID0 never needs a resync.
        assert_eq!(resync_progress(0, 100, 0, 0, 2), ResyncProgress::Complete);
    }
}
