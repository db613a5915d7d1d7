//! Handler operations over a [`Container`] (docs/imsm.md, "Handler operations";
//! docs/monitor.md, "The handler's view"): pure functions of the in-memory model plus
//! explicit inputs describing the md array. Nothing here does I/O; a change sets
//! `Container::pending`, and `sync_metadata` turns it into writes.

use super::container::{Container, DiskSlot, MemberId};
use super::error::OpError;
use super::layout::*;
use super::model::*;

/// "Complete / none" in sector counts.
pub const MAX_SECTOR: u64 = u64::MAX;

/// Member state bits as the monitor derives them from `dev-X/state` (docs/monitor.md,
/// "What is read"): the values of [`crate::sysfs::DiskState`], as plain `u32` for the ops'
/// inputs.
pub mod ds {
    use crate::sysfs::DiskState;
    pub const FAULTY: u32 = DiskState::FAULTY.bits();
    pub const INSYNC: u32 = DiskState::IN_SYNC.bits();
    pub const WRITE_MOSTLY: u32 = DiskState::WRITE_MOSTLY.bits();
    pub const SPARE: u32 = DiskState::SPARE.bits();
    pub const BLOCKED: u32 = DiskState::BLOCKED.bits();
    pub const EXTERNAL_BBL: u32 = DiskState::EXTERNAL_BBL.bits();
}

/// md `sync_action` in the monitor's index order (docs/monitor.md, "What is read").
pub use crate::sysfs::SyncAction;

/// One tracked member of the md array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInput {
    pub slot: u32,
    /// `ds::*` bits currently reported.
    pub state: u32,
    pub recovery_start: u64,
    /// The member's device still belongs to the array (its state fd is valid).
    pub active: bool,
    /// Device number (major, minor) of the member's disk.
    pub dev: (u32, u32),
}

/// What the handler reads from mdmon's record of one md array (docs/monitor.md, "The
/// handler's view").
#[derive(Debug, Clone, Copy)]
pub struct ArrayInput<'a> {
    /// Volume index (`container_member`).
    pub volume: usize,
    pub md_level: i32,
    pub raid_disks: u32,
    pub layout: u32,
    /// Per-member sectors (`component_size`).
    pub component_size: u64,
    pub resync_start: u64,
    pub curr_action: SyncAction,
    pub prev_action: SyncAction,
    pub last_checkpoint: u64,
    pub members: &'a [MemberInput],
}

impl ArrayInput<'_> {
    /// Generic mdmon `is_resync_complete` (docs/monitor.md, "The handler's view").
    pub fn resync_complete(&self) -> bool {
        crate::monitor::resync_complete(
            self.md_level,
            self.layout,
            self.raid_disks,
            self.component_size,
            self.resync_start,
        )
    }
}

/// What `set_array_state` recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayStateOutcome {
    /// Consistency actually recorded: 1 clean (a started array may go read-auto), 0 dirty.
    pub consistent: u8,
    /// New value for the array record's `last_checkpoint`.
    pub last_checkpoint: u64,
    /// A finished reshape asks the manager to set this array size (sectors).
    pub custom_array_size: Option<u64>,
    pub check_reshape: bool,
    /// The in-memory metadata changed; `sync_metadata` will write.
    pub needs_sync: bool,
}

/// What `set_disk` recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetDiskOutcome {
    pub last_checkpoint: u64,
    pub needs_sync: bool,
}

/// Which map(s) `count_failed` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhichMap {
    Map0,
    Map1,
    Both,
}

/// `round_size_to_mb`: each data member gets whole MiB.
pub fn round_size_to_mb(size: u64, data_members: u64) -> u64 {
    if data_members == 0 {
        return 0;
    }
    ((size / data_members) >> 11 << 11) * data_members
}

impl Container {
    fn volume(&self, v: usize) -> Result<&Volume, OpError> {
        self.mpb.volumes.get(v).ok_or(OpError::NoSuchVolume(v))
    }

    fn volume_mut(&mut self, v: usize) -> Result<&mut Volume, OpError> {
        self.mpb.volumes.get_mut(v).ok_or(OpError::NoSuchVolume(v))
    }

    /// A slot counts as failed if its disk is absent, FAILED, or the ord carries REBUILD.
    fn slot_failed(&self, ord: u32) -> bool {
        let idx = ord & ORD_INDEX_MASK;
        ord & ORD_REBUILD != 0
            || self.disk_by_index(idx).is_none()
            || self.entry(idx).is_none_or(RawDisk::is_failed)
    }

    /// `imsm_count_failed` (docs/imsm.md, "Counting failed members").
    pub fn count_failed(&self, v: usize, which: WhichMap) -> Result<usize, OpError> {
        let vol = self.volume(v)?;
        let map0 = &vol.map0;
        let map1 = vol.map1.as_ref();
        let width = map1.map_or(map0.num_members(), |m| {
            m.num_members().max(map0.num_members())
        });
        let mut failed = 0;
        for i in 0..width {
            let mut idx1 = None;
            if let (Some(m1), WhichMap::Map1 | WhichMap::Both) = (map1, which) {
                if let Some(ord) = m1.ord(i) {
                    idx1 = Some(ord & ORD_INDEX_MASK);
                    if self.slot_failed(ord) {
                        failed += 1;
                    }
                }
            }
            if matches!(which, WhichMap::Map0 | WhichMap::Both) {
                if let Some(ord) = map0.ord(i) {
                    if Some(ord & ORD_INDEX_MASK) != idx1 && self.slot_failed(ord) {
                        failed += 1;
                    }
                }
            }
        }
        Ok(failed)
    }

    /// `imsm_check_degraded`: the state `map` (0 or 1) should have with `failed` failures.
    pub fn check_degraded(&self, v: usize, failed: usize, use_map1: bool) -> Result<u8, OpError> {
        let vol = self.volume(v)?;
        let map = if use_map1 { vol.prev_map() } else { &vol.map0 };
        if failed == 0 {
            return Ok(if map.state() == map_state::UNINITIALIZED {
                map_state::UNINITIALIZED
            } else {
                map_state::NORMAL
            });
        }
        Ok(match map.level() {
            0 => map_state::FAILED,
            1 => {
                if failed < map.num_members() {
                    map_state::DEGRADED
                } else {
                    map_state::FAILED
                }
            }
            10 => {
                // Mirrors are slot pairs (0,1), (2,3)...; judge by the source map while
                // migrating, since that is what holds data.
                let ords = &vol.prev_map().ords;
                let mut state = map_state::DEGRADED;
                for pair in ords.chunks(2) {
                    if pair.iter().all(|&o| self.slot_failed(o)) {
                        state = map_state::FAILED;
                        break;
                    }
                }
                state
            }
            5 => {
                if failed < 2 {
                    map_state::DEGRADED
                } else {
                    map_state::FAILED
                }
            }
            _ => map.state(),
        })
    }

    pub fn is_resyncing(&self, v: usize) -> bool {
        let Ok(vol) = self.volume(v) else {
            return false;
        };
        if !vol.is_migrating() {
            return false;
        }
        match vol.logical_migr_type() {
            MigrType::Init | MigrType::Repair => true,
            MigrType::GeneralMigration => false,
            _ => vol.prev_map().state() == map_state::NORMAL,
        }
    }

    pub fn is_rebuilding(&self, v: usize) -> bool {
        self.volume(v).is_ok_and(|vol| {
            vol.is_migrating()
                && vol.migr_type() == migr_type::REBUILD
                && vol.prev_map().state() == map_state::DEGRADED
        })
    }

    pub fn is_initializing(&self, v: usize) -> bool {
        self.volume(v).is_ok_and(|vol| {
            vol.is_migrating()
                && vol.migr_type() == migr_type::INIT
                && vol.prev_map().state() == map_state::UNINITIALIZED
        })
    }

    fn any_gen_migration(&self) -> bool {
        self.mpb.volumes.iter().any(Volume::is_gen_migration)
    }

    /// `migrate` (docs/imsm.md, "Migrations"): enter a migration towards `to_state`.
    pub fn migrate(&mut self, v: usize, to_state: u8, ty: MigrType) -> Result<(), OpError> {
        let gen = ty == MigrType::GeneralMigration;
        let vol = self.volume_mut(v)?;
        vol.dev.migr_state = 1;
        let status = vol.dev.status.get();
        let (raw, status) = match ty {
            MigrType::Init => (migr_type::INIT, status & !DEV_VERIFY_AND_FIX),
            MigrType::Rebuild => (migr_type::REBUILD, status & !DEV_VERIFY_AND_FIX),
            MigrType::Verify => (migr_type::VERIFY, status & !DEV_VERIFY_AND_FIX),
            MigrType::Repair => (migr_type::VERIFY, status | DEV_VERIFY_AND_FIX),
            MigrType::GeneralMigration => (migr_type::GEN_MIGR, status & !DEV_VERIFY_AND_FIX),
            MigrType::StateChange => (migr_type::STATE_CHANGE, status & !DEV_VERIFY_AND_FIX),
            MigrType::Unknown(t) => (t, status & !DEV_VERIFY_AND_FIX),
        };
        vol.dev.migr_type = raw;
        vol.dev.status.set(status);
        vol.dev.set_curr_migr_unit(0);
        vol.map1 = Some(vol.map0.clone());
        if gen {
            for o in vol.map0.ords.iter_mut() {
                *o &= ORD_INDEX_MASK;
            }
        }
        vol.map0.raw.map_state = to_state;
        if gen {
            self.migr_rec = zerocopy::FromZeros::new_zeroed();
        }
        Ok(())
    }

    /// `end_migration` (docs/imsm.md, "Migrations").
    pub fn end_migration(&mut self, v: usize, mut state: u8) -> Result<(), OpError> {
        let gen = self.volume(v)?.is_gen_migration();
        let vol = self.volume(v)?;
        let prev = vol.prev_map().clone();
        let merge = state != vol.map0.state() && !gen && prev.state() != map_state::UNINITIALIZED;
        if merge {
            // Failures recorded in the source map carry into the surviving map.
            let vol = self.volume_mut(v)?;
            for &p in prev.ords.iter() {
                let idx = p & ORD_INDEX_MASK;
                if let Some(slot) = vol.map0.slot_of(idx) {
                    if let Some(o) = vol.map0.ords.get_mut(slot) {
                        *o |= p;
                    }
                }
            }
            let failed = self.count_failed(v, WhichMap::Map0)?;
            // The merged failures decide the final state, not the caller's guess.
            state = self.check_degraded(v, failed, false)?;
        }
        let vol = self.volume_mut(v)?;
        vol.dev.migr_state = 0;
        vol.dev.migr_type = 0;
        vol.dev
            .status
            .set(vol.dev.status.get() & !DEV_VERIFY_AND_FIX);
        vol.dev.set_curr_migr_unit(0);
        vol.map0.raw.map_state = state;
        vol.map1 = None;
        Ok(())
    }

    /// `mark_failure`: record table disk `idx` failed in volume `v`. Returns whether
    /// anything changed.
    pub fn mark_failure(&mut self, v: usize, idx: u32) -> Result<bool, OpError> {
        let vol = self.volume(v)?;
        let Some(slot) = vol.map0.slot_of(idx) else {
            return Ok(false);
        };
        let ord = vol.map0.ord(slot).unwrap_or(0);
        let Some(entry) = self.entry(idx) else {
            return Ok(false);
        };
        if entry.is_failed() && ord & ORD_REBUILD != 0 {
            return Ok(false);
        }
        let rebuilding = self.is_rebuilding(v);
        let entry = self.entry_mut(idx).ok_or(OpError::NoSuchSlot(slot))?;
        append_failed_suffix(&mut entry.serial);
        entry.status.set(entry.status.get() | DISK_FAILED);
        let vol = self.volume_mut(v)?;
        if let Some(o) = vol.map0.ords.get_mut(slot) {
            *o = idx | ORD_REBUILD;
        }
        if let Some(m1) = vol.map1.as_mut() {
            if let Some(s1) = m1.slot_of(idx) {
                if let Some(o) = m1.ords.get_mut(s1) {
                    *o = idx | ORD_REBUILD;
                }
            }
        }
        let fdn = vol.map0.raw.failed_disk_num;
        if fdn == NO_FAILED_DISK || (!rebuilding && slot < usize::from(fdn)) {
            vol.map0.raw.failed_disk_num = slot as u8;
        }
        self.mpb.bbm.retain(|e| u32::from(e.disk_ordinal) != idx);
        Ok(true)
    }

    /// `mark_missing`: `mark_failure`, then (once) the missing marks on the entry.
    pub fn mark_missing(&mut self, v: usize, idx: u32) -> Result<(), OpError> {
        self.mark_failure(v, idx)?;
        if let Some(e) = self.entry_mut(idx) {
            if e.scsi_id.get() != SCSI_ID_MISSING {
                e.scsi_id.set(SCSI_ID_MISSING);
                e.serial.copy_within(1..16, 0);
            }
        }
        Ok(())
    }

    /// `handle_missing` (docs/imsm.md, "Failed and missing disks").
    pub fn handle_missing(&mut self, v: usize) -> Result<(), OpError> {
        if self.missing_indexes().next().is_none() {
            return Ok(());
        }
        let vol = self.volume(v)?;
        if !vol.is_gen_migration() && self.count_failed(v, WhichMap::Map0)? > 0 {
            let vol = self.volume(v)?;
            let rebuild_in_both = match vol.map1.as_ref() {
                None => false,
                Some(m1) => vol
                    .map0
                    .ords
                    .iter()
                    .zip(m1.ords.iter())
                    .any(|(a, b)| a & b & ORD_REBUILD != 0),
            };
            if !rebuild_in_both {
                let failed = self.count_failed(v, WhichMap::Map0)?;
                let state = self.check_degraded(v, failed, false)?;
                self.end_migration(v, state)?;
            }
        }
        let mut missing: heapless::Vec<u32, MAX_DISKS> = heapless::Vec::new();
        for i in self.missing_indexes() {
            let _ = missing.push(i);
        }
        for idx in missing {
            self.mark_missing(v, idx)?;
        }
        self.touch();
        Ok(())
    }

    /// `blocks_per_migr_unit` (docs/imsm.md, "Blocks per migration unit"); 0 when not migrating.
    pub fn blocks_per_migr_unit(&self, v: usize) -> u64 {
        let Ok(vol) = self.volume(v) else { return 0 };
        let Some(map1) = vol.map1.as_ref().filter(|_| vol.is_migrating()) else {
            return 0;
        };
        let map0 = &vol.map0;
        match vol.logical_migr_type() {
            MigrType::GeneralMigration => u64::from(self.migr_rec.blocks_per_unit.get()),
            MigrType::Init | MigrType::Verify | MigrType::Repair => {
                let c0 = map0.chunk();
                let c1 = map1.chunk();
                let d = map0.data_members();
                if c0 == 0 || c1 == 0 {
                    return 0;
                }
                let spu = (c1 / c0).max(1);
                let level = map0.level();
                let mchunk = if level == 5 || level == 10 { c0 } else { 256 };
                let bpu = spu * mchunk * d;
                let stripe = c0 * d;
                if stripe == 0 {
                    return 0;
                }
                let seg = bpu / stripe;
                let rel = bpu - seg * stripe;
                let n = map1.num_members() as u64;
                let domains = u64::from(map1.raw.num_domains);
                let depth = match level {
                    1 | 10 => c0 * u64::from(map0.raw.num_domains),
                    5 => c0 * map0.num_members() as u64,
                    _ => c0,
                };
                let strip = rel / c1;
                let mapped = match level {
                    1 | 10 if n > 0 => ((strip * domains + 1) / n) * c1 + rel % c1,
                    5 if n > 1 => (strip / (n - 1)) * c1 + rel % c1,
                    _ => 0,
                };
                mapped + depth * seg
            }
            MigrType::Rebuild => {
                let c0 = map0.chunk();
                let c1 = map1.chunk();
                let n = map1.num_members() as u64;
                let domains = u64::from(map1.raw.num_domains);
                let mchunk = match map1.level() {
                    1 | 10 => {
                        if domains != 0 && n % domains == 0 {
                            256
                        } else {
                            c1
                        }
                    }
                    5 => c1.max(128),
                    _ => 256,
                };
                let spu = if matches!(map0.level(), 1 | 10) {
                    domains
                } else {
                    c1.checked_div(c0).unwrap_or(1).max(1)
                };
                mchunk * spu
            }
            _ => 0,
        }
    }

    /// `imsm_set_array_state` (docs/imsm.md, "Marking the array dirty or clean").
    pub fn set_array_state(
        &mut self,
        a: &ArrayInput<'_>,
        consistent: u8,
    ) -> Result<ArrayStateOutcome, OpError> {
        let v = a.volume;
        let failed = self.count_failed(v, WhichMap::Map0)?;
        let state = self.check_degraded(v, failed, false)?;
        let was_pending = self.pending;
        self.pending = false;
        let mut out = ArrayStateOutcome {
            consistent,
            last_checkpoint: a.last_checkpoint,
            custom_array_size: None,
            check_reshape: false,
            needs_sync: false,
        };
        let mut consistent = consistent;
        let mut skip_to_dirty = false;

        if self.volume(v)?.is_gen_migration() {
            if a.curr_action == SyncAction::Reshape {
                skip_to_dirty = true;
            } else if out.last_checkpoint >= a.component_size {
                // Reshape finished: tell the manager the new size, end the migration
                // through set_disk, and let the next volume start its own.
                let m0 = &self.volume(v)?.map0;
                let d = m0.data_members();
                out.custom_array_size = Some(round_size_to_mb(
                    m0.per_dev_array_size().saturating_mul(d),
                    d,
                ));
                out.check_reshape = true;
                let mut cp = out.last_checkpoint;
                for m in a.members {
                    let r = self.set_disk(
                        &ArrayInput {
                            last_checkpoint: cp,
                            ..*a
                        },
                        m.slot as usize,
                        m.state,
                    )?;
                    cp = r.last_checkpoint;
                }
                out.last_checkpoint = cp;
                self.progress_container_reshape();
            }
        }

        if !skip_to_dirty {
            if consistent == 2 {
                self.handle_missing(v)?;
                if !a.resync_complete()
                    || state != map_state::NORMAL
                    || self.volume(v)?.is_migrating()
                {
                    consistent = 0;
                }
            }
            if a.resync_complete() {
                if self.is_resyncing(v) {
                    self.end_migration(v, state)?;
                    self.touch();
                    out.last_checkpoint = 0;
                }
            } else if !self.is_resyncing(v) && failed == 0 && !self.any_gen_migration() {
                let ty = if self.volume(v)?.map0.state() == map_state::UNINITIALIZED {
                    MigrType::Init
                } else {
                    MigrType::Repair
                };
                self.migrate(v, map_state::NORMAL, ty)?;
                self.touch();
            }
            let skip_checkpoint = self.compat == super::container::Compat::Mdadm46
                && a.prev_action == SyncAction::Idle;
            if !skip_checkpoint && !self.volume(v)?.is_gen_migration() {
                let bpmu = self.blocks_per_migr_unit(v);
                if let Some(unit) = out.last_checkpoint.checked_div(bpmu) {
                    self.volume_mut(v)?.dev.set_curr_migr_unit(unit);
                    self.touch();
                }
            }
        }

        let rwh = self.volume(v)?.dev.rwh_policy;
        let vol = self.volume_mut(v)?;
        let dirty = vol.dev.dirty & VOL_DIRTY != 0;
        if dirty && consistent != 0 {
            vol.dev.dirty = 0;
            self.touch();
        } else if !dirty && consistent == 0 {
            let mut d = VOL_DIRTY;
            if rwh == rwh::DISTRIBUTED || rwh == rwh::MULTIPLE_DISTRIBUTED {
                d |= VOL_DSRECORD_VALID;
            }
            vol.dev.dirty = d;
            self.touch();
        }
        // mdadm assembles a volume in a rebuild migration without a resync, dirty or not:
        // after a power cut while dirty, a write that reached one mirror and not the other
        // would stay a difference forever in the part already rebuilt. So while the volume
        // is dirty on disk the rebuild's checkpoint reads "nothing rebuilt yet": a cut then
        // restarts the rebuild from the start, which copies the whole volume onto the
        // rebuilt member again (docs/imsm.md, "Dirty during a rebuild").
        if consistent == 0 && self.is_rebuilding(v) {
            let vol = self.volume_mut(v)?;
            if vol.dev.curr_migr_unit() != 0 {
                vol.dev.set_curr_migr_unit(0);
                self.touch();
            }
        }
        out.needs_sync = self.pending;
        // Upstream returns its int (2 stays 2); callers only ask "nonzero?", so normalise.
        out.consistent = u8::from(consistent != 0);
        self.pending |= was_pending;
        Ok(out)
    }

    /// `imsm_set_disk` (docs/imsm.md, "Member state changes") for slot `n` with `ds::*` bits
    /// `state`.
    pub fn set_disk(
        &mut self,
        a: &ArrayInput<'_>,
        n: usize,
        state: u32,
    ) -> Result<SetDiskOutcome, OpError> {
        let v = a.volume;
        let was_pending = self.pending;
        self.pending = false;
        let mut cp = a.last_checkpoint;
        let vol = self.volume(v)?;
        let ord = vol.prev_map().ord(n).ok_or(OpError::NoSuchSlot(n))?;
        let idx = ord & ORD_INDEX_MASK;
        let present = self.disk_by_index(idx).is_some();

        if present && state & ds::FAULTY != 0 && self.mark_failure(v, idx)? {
            self.touch();
        }
        let mut rebuild_done = false;
        if state & ds::INSYNC != 0 && ord & ORD_REBUILD != 0 && self.is_rebuilding(v) {
            if let Some(o) = self
                .volume_mut(v)?
                .map1
                .as_mut()
                .and_then(|m| m.ords.get_mut(n))
            {
                *o &= !ORD_REBUILD;
            }
            rebuild_done = true;
            self.touch();
        }

        let failed = self.count_failed(v, WhichMap::Map0)?;
        let new_state = self.check_degraded(v, failed, false)?;
        // Upstream looks at the first member (in list order) still recovering.
        let recovery_pending = a
            .members
            .iter()
            .find(|m| m.recovery_start != MAX_SECTOR)
            .map(|m| m.recovery_start);
        let map0_state = self.volume(v)?.map0.state();
        let migrating = self.volume(v)?.is_migrating();
        let gen = self.volume(v)?.is_gen_migration();
        match new_state {
            map_state::NORMAL => {
                if self.is_rebuilding(v) {
                    if let Some(r) = recovery_pending {
                        if r > cp {
                            cp = r;
                            self.touch();
                        }
                    } else {
                        self.end_migration(v, map_state::NORMAL)?;
                        self.volume_mut(v)?.map0.raw.failed_disk_num = NO_FAILED_DISK;
                        self.touch();
                        cp = 0;
                    }
                } else if gen {
                    if cp >= a.component_size {
                        self.end_migration(v, map_state::NORMAL)?;
                    } else {
                        self.volume_mut(v)?.map0.raw.map_state = map_state::NORMAL;
                    }
                    self.volume_mut(v)?.map0.raw.failed_disk_num = NO_FAILED_DISK;
                    self.touch();
                }
            }
            map_state::DEGRADED => {
                if map0_state != map_state::DEGRADED && !migrating {
                    self.volume_mut(v)?.map0.raw.map_state = map_state::DEGRADED;
                    self.touch();
                    cp = 0;
                } else if self.is_rebuilding(v) {
                    if state & ds::FAULTY != 0 {
                        if n == usize::from(self.volume(v)?.map0.raw.failed_disk_num) {
                            // The rebuild target itself died.
                            self.end_migration(v, map_state::DEGRADED)?;
                            cp = 0;
                        } else {
                            self.volume_mut(v)?.map0.raw.map_state = map_state::DEGRADED;
                        }
                        self.touch();
                    }
                    if rebuild_done {
                        if let Some(r) = recovery_pending {
                            if r > cp {
                                cp = r;
                                self.touch();
                            }
                        } else {
                            self.end_migration(v, map_state::DEGRADED)?;
                            cp = 0;
                            let vol = self.volume_mut(v)?;
                            if let Some(last) =
                                vol.map0.ords.iter().rposition(|o| o & ORD_REBUILD != 0)
                            {
                                vol.map0.raw.failed_disk_num = last as u8;
                            }
                            self.touch();
                        }
                    }
                } else if gen {
                    if cp >= a.component_size {
                        self.end_migration(v, map_state::DEGRADED)?;
                    } else {
                        self.volume_mut(v)?.map0.raw.map_state = map_state::DEGRADED;
                        // manage_second_map: the source map's state follows its failures.
                        let f1 = self.count_failed(v, WhichMap::Map1)?;
                        let s1 = self.check_degraded(v, f1, true)?;
                        if let Some(m1) = self.volume_mut(v)?.map1.as_mut() {
                            m1.raw.map_state = s1;
                        }
                    }
                    self.touch();
                } else if self.is_initializing(v) {
                    self.volume_mut(v)?.map0.raw.map_state = map_state::DEGRADED;
                    self.touch();
                }
            }
            map_state::FAILED => {
                if gen {
                    self.volume_mut(v)?.map0.raw.map_state = map_state::FAILED;
                    self.touch();
                } else if map0_state != map_state::FAILED {
                    self.end_migration(v, map_state::FAILED)?;
                    self.touch();
                    cp = 0;
                }
            }
            _ => {}
        }
        let out = SetDiskOutcome {
            last_checkpoint: cp,
            needs_sync: self.pending,
        };
        self.pending |= was_pending;
        Ok(out)
    }

    /// `progress_container_reshape`: after one volume's reshape, start the next one.
    pub fn progress_container_reshape(&mut self) {
        if self.mpb.volumes.iter().any(Volume::is_migrating) {
            return;
        }
        let Some(target) = self.mpb.volumes.first().map(|v| v.map0.num_members()) else {
            return;
        };
        let Some(v) = self
            .mpb
            .volumes
            .iter()
            .position(|v| v.map0.num_members() != target)
        else {
            return;
        };
        let Some(vol) = self.mpb.volumes.get_mut(v) else {
            return;
        };
        // Not `migrate`: upstream keeps map0's state and ord flags here and leaves the
        // in-memory migration record to the one-shot clean flag below.
        let old = vol.map0.num_members();
        if target > MAX_MEMBERS {
            return;
        }
        vol.map1 = Some(vol.map0.clone());
        vol.dev.migr_state = 1;
        vol.dev.migr_type = migr_type::GEN_MIGR;
        vol.dev
            .status
            .set(vol.dev.status.get() & !DEV_VERIFY_AND_FIX);
        vol.dev.set_curr_migr_unit(0);
        vol.map0.ords.truncate(target);
        for i in old..target {
            if vol.map0.ords.push(i as u32).is_err() {
                return;
            }
        }
        vol.map0.raw.num_members = target as u8;
        set_array_size(vol);
        self.clean_migr_rec_by_mdmon = true;
        self.touch();
    }

    /// `imsm_delete`: drop table entry `index`, renumbering everything above it.
    pub fn delete_disk(&mut self, index: u32) {
        let i = index as usize;
        if i >= self.mpb.disks.len() {
            return;
        }
        crate::total::remove_at(&mut self.mpb.disks, i);
        let mut drop_member: Option<usize> = None;
        for (pos, d) in self.disks.iter_mut().enumerate() {
            if let DiskSlot::Table(t) = d.slot {
                let t32 = u32::from(t);
                if t32 == index {
                    drop_member = Some(pos);
                } else if t32 > index {
                    d.slot = DiskSlot::Table(t - 1);
                }
            }
        }
        if let Some(pos) = drop_member {
            crate::total::remove_at(&mut self.disks, pos);
        }
        for vol in self.mpb.volumes.iter_mut() {
            let width = vol.map0.num_members();
            for slot in 0..width {
                let key = vol.prev_map().index_at(slot).unwrap_or(0);
                if key <= index {
                    continue;
                }
                if let Some(o) = vol.map0.ords.get_mut(slot) {
                    *o = o.wrapping_sub(1);
                }
                if let Some(o) = vol.map1.as_mut().and_then(|m| m.ords.get_mut(slot)) {
                    *o = o.wrapping_sub(1);
                }
            }
        }
        for e in self.mpb.bbm.iter_mut() {
            if u32::from(e.disk_ordinal) > index {
                e.disk_ordinal -= 1;
            }
        }
        self.touch();
    }

    /// Present disk by caller id.
    pub fn disk_by_member(&self, member: MemberId) -> Option<&super::container::PresentDisk> {
        self.disks.iter().find(|d| d.member == member)
    }
}

/// Append ":0" to a failed disk's serial keeping at most 15 characters (the last ones)
/// plus the NUL (docs/imsm.md, "Failed and missing disks").
pub fn append_failed_suffix(serial: &mut [u8; 16]) {
    let cur = serial_str(serial);
    let mut buf = [0u8; 18];
    let n = cur.len();
    if let Some(d) = buf.get_mut(..n) {
        d.copy_from_slice(cur);
    }
    if let Some(d) = buf.get_mut(n..n + 2) {
        d.copy_from_slice(b":0");
    }
    let total = n + 2;
    let start = total.saturating_sub(15);
    let mut out = [0u8; 16];
    if let (Some(d), Some(s)) = (out.get_mut(..total - start), buf.get(start..total)) {
        d.copy_from_slice(s);
    }
    *serial = out;
}

/// `imsm_set_array_size(-1)`: size from map0 geometry, MiB-rounded per data member.
pub fn set_array_size(vol: &mut Volume) {
    let d = vol.map0.data_members();
    let size = round_size_to_mb(vol.map0.per_dev_array_size().saturating_mul(d), d);
    vol.dev.set_size(size);
}

/// Longest run one BBM entry covers, in sectors.
const BBM_MAX_RUN: u64 = 256;

/// A disk chosen by `activate_spare` for one slot (what the manager adds to the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpareChoice {
    pub slot: u32,
    pub member: MemberId,
    pub dev: (u32, u32),
    /// Sectors; the volume's pba_of_lba0.
    pub data_offset: u64,
    pub component_size: u64,
    /// (sector, size in sectors) of the PPL area when the volume uses PPL.
    pub ppl: Option<(u64, u64)>,
}

/// Result of `activate_spare`: the disks and the update the monitor must apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpareActivation {
    pub disks: heapless::Vec<SpareChoice, MAX_MEMBERS>,
    pub update: super::update::PreparedUpdate,
}

impl Container {
    /// `record_bad_block` for the disk in `slot` of volume `v` (docs/imsm.md, "Recording bad
    /// blocks"). Returns the number of entries recorded; 0 means failure (the monitor then
    /// turns external bad-block handling off for that disk), including upstream's quirk of
    /// reporting 0 when the range is already fully covered by 256-sector entries.
    pub fn record_bad_block(
        &mut self,
        v: usize,
        slot: usize,
        sector: u64,
        len: u64,
    ) -> Result<u32, OpError> {
        let idx = self
            .volume(v)?
            .map0
            .index_at(slot)
            .ok_or(OpError::NoSuchSlot(slot))?;
        let ordinal = u8::try_from(idx).map_err(|_| OpError::NoSuchSlot(slot))?;
        // Entries store 48-bit start LBAs; a range the format cannot hold is refused.
        if sector.checked_add(len).is_none_or(|end| end > 1 << 48) {
            return Ok(0);
        }
        let (mut sector, mut len) = (sector, len);
        let mut i = 0;
        while len > 0 {
            let end = sector.saturating_add(len);
            let Some(pos) = self.mpb.bbm.iter().skip(i).position(|e| {
                e.disk_ordinal == ordinal
                    && e.start >= sector
                    && e.start.saturating_add(u64::from(e.len)) <= end
            }) else {
                break;
            };
            let pos = pos + i;
            let Some(e) = self.mpb.bbm.get_mut(pos) else {
                break;
            };
            if u64::from(e.len) == BBM_MAX_RUN && e.start == sector {
                sector = sector.saturating_add(BBM_MAX_RUN);
                len = len.saturating_sub(BBM_MAX_RUN);
                i = pos + 1;
                continue;
            }
            let run = len.min(BBM_MAX_RUN);
            e.start = sector;
            e.len = run as u32;
            self.touch();
            if run == len {
                return Ok(1);
            }
            sector = sector.saturating_add(run);
            len -= run;
            i = pos + 1;
        }
        let new = len.div_ceil(BBM_MAX_RUN) as usize;
        if new == 0 || self.mpb.bbm.len() + new > MAX_BBM_ENTRIES {
            return Ok(0);
        }
        while len > 0 {
            let run = len.min(BBM_MAX_RUN);
            let _ = self.mpb.bbm.push(BbmEntry {
                disk_ordinal: ordinal,
                start: sector,
                len: run as u32,
            });
            sector = sector.saturating_add(run);
            len -= run;
        }
        self.touch();
        Ok(new as u32)
    }

    /// `clear_bad_block`: drop the entry of `slot`'s disk with exactly this start and length.
    pub fn clear_bad_block(
        &mut self,
        v: usize,
        slot: usize,
        sector: u64,
        len: u64,
    ) -> Result<bool, OpError> {
        let idx = self
            .volume(v)?
            .map0
            .index_at(slot)
            .ok_or(OpError::NoSuchSlot(slot))?;
        if let Some(pos) = self.mpb.bbm.iter().position(|e| {
            u32::from(e.disk_ordinal) == idx && e.start == sector && u64::from(e.len) == len
        }) {
            self.mpb.bbm.swap_remove(pos);
        }
        self.touch();
        Ok(true)
    }

    /// `get_bad_blocks`: entries of `slot`'s disk touching the volume's member range, as
    /// (absolute sector, length), into `out`.
    pub fn get_bad_blocks(
        &self,
        v: usize,
        slot: usize,
        out: &mut heapless::Vec<(u64, u32), MAX_BBM_ENTRIES>,
    ) -> Result<(), OpError> {
        let vol = self.volume(v)?;
        let idx = vol.map0.index_at(slot).ok_or(OpError::NoSuchSlot(slot))?;
        let start = vol.map0.raw.pba_of_lba0();
        let end = start.saturating_add(vol.map0.per_dev_array_size());
        out.clear();
        for e in self
            .mpb
            .bbm
            .iter()
            .filter(|e| u32::from(e.disk_ordinal) == idx)
        {
            // Any sector in common. An entry that only ends where this volume starts belongs
            // to the volume before it on the disk: listing it here would have this volume's
            // reconcile clear a bad block md never knew in this array.
            let e_end = e.start.saturating_add(u64::from(e.len));
            if e.start < end && e_end > start {
                let _ = out.push((e.start, e.len));
            }
        }
        Ok(())
    }

    /// Extents (start, size) used on table disk `idx`, ascending, plus the metadata
    /// reservation at the end as a zero-size extent.
    fn extents(
        &self,
        idx: Option<u32>,
        total: u64,
        reserve: u64,
    ) -> heapless::Vec<(u64, u64), { MAX_VOLUMES + 1 }> {
        let mut ex: heapless::Vec<(u64, u64), { MAX_VOLUMES + 1 }> = heapless::Vec::new();
        if let Some(idx) = idx {
            for vol in self
                .mpb
                .volumes
                .iter()
                .filter(|v| v.map0.slot_of(idx).is_some())
            {
                let _ = ex.push((vol.map0.raw.pba_of_lba0(), vol.map0.per_dev_array_size()));
            }
        }
        crate::total::sort_small(&mut ex);
        // With volumes on the disk, the reservation never reaches into the last volume:
        // it is capped by what actually follows it (rounded to 1 KiB for the kernel's size
        // interface), but never below the MPB itself.
        let mut reserve = reserve;
        if let Some(&(start, size)) = ex.last() {
            let mpb_sectors = self.mpb.mpb_size().div_ceil(512) as u64;
            let remainder =
                (total.saturating_sub(start.saturating_add(size)) & !1).max(mpb_sectors);
            reserve = reserve.min(remainder);
        }
        let _ = ex.push((total.saturating_sub(reserve), 0));
        ex
    }

    /// `imsm_min_reserved_sectors`: the tail a spare must leave free, judged on the smallest
    /// table member.
    fn min_reserved_sectors(&self) -> u64 {
        let full = MPB_SECTOR_CNT + IMSM_RESERVED_SECTORS;
        let smallest = self
            .disks
            .iter()
            .filter_map(|d| match d.slot {
                DiskSlot::Table(i) => self
                    .entry(u32::from(i))
                    .map(|e| (u32::from(i), e.total_blocks())),
                _ => None,
            })
            .min_by_key(|&(_, t)| t);
        let Some((idx, total)) = smallest else {
            return full;
        };
        let last_end = self
            .mpb
            .volumes
            .iter()
            .filter(|v| v.map0.slot_of(idx).is_some())
            .map(|v| {
                v.map0
                    .raw
                    .pba_of_lba0()
                    .saturating_add(v.map0.per_dev_array_size())
            })
            .max();
        let Some(end) = last_end else { return full };
        let remainder = total.saturating_sub(end);
        remainder.min(MPB_SECTOR_CNT + NUM_BLOCKS_DIRTY_STRIPE_REGION)
    }

    /// Does disk (table index `idx` or a pristine spare) have room for every volume it is
    /// not yet part of, each at its own pba_of_lba0?
    fn has_room(&self, idx: Option<u32>, total: u64) -> bool {
        let ex = self.extents(idx, total, self.min_reserved_sectors());
        self.mpb.volumes.iter().all(|vol| {
            if idx.is_some_and(|i| vol.map0.slot_of(i).is_some()) {
                return true;
            }
            let start = vol.map0.raw.pba_of_lba0();
            let need_end = start.saturating_add(vol.map0.per_dev_array_size());
            let mut pos = 0u64;
            for &(s, size) in ex.iter() {
                // The volume's last sector must lie before the next extent.
                if start >= pos && need_end <= s {
                    return true;
                }
                pos = s.saturating_add(size);
            }
            false
        })
    }

    /// `imsm_rebuild_allowed`: another volume that would be FAILED with `failed` failures
    /// blocks spare activation until each of its failed disks has left the container.
    fn rebuild_allowed(&self, other: usize, failed: usize) -> bool {
        let Ok(vol) = self.volume(other) else {
            return true;
        };
        if self.check_degraded(other, failed, false) != Ok(map_state::FAILED) {
            return true;
        }
        (0..vol.map0.num_members()).all(|slot| {
            let Some(idx) = vol.prev_map().index_at(slot) else {
                return true;
            };
            match self.disk_by_index(idx) {
                Some(d) => d.detached || !self.entry(idx).is_some_and(RawDisk::is_failed),
                None => true,
            }
        })
    }

    /// `imsm_activate_spare` (docs/imsm.md, "Spare activation"), manager side: choose disks
    /// for the empty slots of array `a` and build the update recording the choice; `random`
    /// is the value added to family_num.
    pub fn activate_spare(&self, a: &ArrayInput<'_>, random: u32) -> Option<SpareActivation> {
        let v = a.volume;
        let vol = self.mpb.volumes.get(v)?;
        if a.members
            .iter()
            .any(|m| m.active && m.state & ds::FAULTY != 0)
        {
            return None;
        }
        if self.any_gen_migration() || self.is_rebuilding(v) || a.md_level == 4 {
            return None;
        }
        let active = a.members.iter().filter(|m| m.active).count();
        let failed = (a.raid_disks as usize).saturating_sub(active);
        if self.check_degraded(v, failed, false).ok()? != map_state::DEGRADED {
            return None;
        }
        if vol.map0.state() == map_state::UNINITIALIZED {
            return None;
        }
        if failed > 0
            && !(0..self.mpb.volumes.len())
                .filter(|&i| i != v)
                .all(|i| self.rebuild_allowed(i, failed))
        {
            return None;
        }
        let mut disks: heapless::Vec<SpareChoice, MAX_MEMBERS> = heapless::Vec::new();
        let mut list: heapless::Vec<super::update::SpareAssignment, MAX_MEMBERS> =
            heapless::Vec::new();
        // mdmon hands a new member the multiple-PPL area size (1 MiB) for either PPL policy.
        let ppl = match vol.dev.rwh_policy {
            rwh::DISTRIBUTED | rwh::MULTIPLE_DISTRIBUTED => Some((
                vol.map0.raw.pba_of_lba0().saturating_add(
                    vol.map0
                        .raw
                        .num_data_stripes()
                        .saturating_mul(vol.map0.chunk()),
                ),
                2048,
            )),
            _ => None,
        };
        for slot in 0..a.raid_disks {
            if a.members.iter().any(|m| m.slot == slot && m.active) {
                continue;
            }
            let slot_idx = vol.prev_map().index_at(slot as usize);
            let taken = |d: &super::container::PresentDisk| {
                disks.iter().any(|c| c.member == d.member)
                    || a.members.iter().any(|m| m.active && m.dev == d.dev)
            };
            // 1. the disk that held this slot before
            let readd = self.disks.iter().find(|d| {
                !d.detached
                    && !taken(d)
                    && matches!(d.slot, DiskSlot::Table(i) if Some(u32::from(i)) == slot_idx)
                    && self
                        .entry(slot_idx.unwrap_or(u32::MAX))
                        .is_some_and(|e| !e.is_failed())
            });
            // 2. a disk already used by another volume, 3. a pristine spare
            let pick = readd.or_else(|| {
                [false, true].into_iter().find_map(|allow_new| {
                    self.disks.iter().find(|d| {
                        if d.detached || taken(d) {
                            return false;
                        }
                        let (idx, total) = match d.slot {
                            DiskSlot::Table(i) => {
                                let Some(e) = self.entry(u32::from(i)) else {
                                    return false;
                                };
                                if e.is_failed() || Some(u32::from(i)) == slot_idx {
                                    return false;
                                }
                                (Some(u32::from(i)), e.total_blocks())
                            }
                            DiskSlot::Spare if allow_new => (None, d.entry.total_blocks()),
                            _ => return false,
                        };
                        self.has_room(idx, total)
                    })
                })
            });
            let Some(d) = pick else { continue };
            let _ = disks.push(SpareChoice {
                slot,
                member: d.member,
                dev: d.dev,
                data_offset: vol.map0.raw.pba_of_lba0(),
                component_size: a.component_size,
                ppl,
            });
            let _ = list.push(super::update::SpareAssignment {
                member: d.member,
                slot: slot as u8,
                volume: v as u8,
            });
        }
        if disks.is_empty() {
            return None;
        }
        Some(SpareActivation {
            disks,
            update: super::update::PreparedUpdate {
                update: super::update::Update::ActivateSpare {
                    random,
                    assignments: list,
                },
                chosen_disk: None,
            },
        })
    }
}
