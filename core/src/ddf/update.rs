//! Metadata updates (docs/ddf.md, "Metadata updates"; docs/protocol.md): bounded decoders
//! for the payloads mdadm sends over the socket, and their application to the model.
//!
//! `prepare_update` runs in the manager: it validates the whole payload and decodes it into a
//! [`PreparedUpdate`] that owns everything the monitor needs, so `process_update` neither
//! parses nor allocates. A malformed payload is refused with an [`UpdateError`] (upstream
//! silently ignores most of them; the client is acknowledged either way).

use heapless::Vec;
use zerocopy::{FromBytes, IntoBytes};

use super::error::ParseError;
use super::layout::*;
use super::model::{Bvd, ConfigSlot, Container, Disk, DiskId, PdState, PdType, VdState};
use super::{Capacity, MAX_DISKS};

/// BVDs one VD_CONF update may carry: a RAID10 of 2-disk mirrors over every possible
/// member ([`MAX_DISKS`] / 2).
pub const MAX_UPDATE_BVDS: usize = MAX_DISKS / 2;

/// Byte length of a PHYS or VIRT update: section header + one entry.
pub const RECORD_UPDATE_LEN: usize = 2 * RECORD_ENTRY;

/// VD entry state byte mdadm uses as "delete this VD" marker in a VIRT update.
pub const VIRT_DELETE_MARKER: u8 = 0x02;

/// Container constants `prepare_update` validates against. They never change while a
/// container is loaded, so the manager can keep a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateContext {
    pub mppe: usize,
    pub record_bytes: usize,
    pub max_pdes: u16,
}

/// Which update kind an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UpdateKind {
    Phys,
    Virt,
    VdConf,
}

/// Why an update payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UpdateError {
    /// Shorter than the 4-byte magic.
    TooShort {
        len: usize,
    },
    /// Length does not match what the kind requires.
    Length {
        kind: UpdateKind,
        len: usize,
        expected: usize,
    },
    /// PHYS update naming a PD slot past the table.
    SlotOutOfRange {
        slot: u16,
    },
    /// A VD config record in the payload is malformed.
    Record {
        index: usize,
        error: ParseError,
    },
    /// Records of one VD_CONF update disagree (GUID, BVD count) or repeat a BVD.
    Inconsistent {
        index: usize,
    },
    Capacity {
        what: Capacity,
    },
}

/// A validated, fully decoded update.
///
/// Variants differ a lot in size (a VD_CONF carries whole records); without `alloc` they
/// cannot be boxed here, and the shell keeps each update in its own heap slot anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum PreparedUpdate {
    /// Add PD entry `entry` at `slot`; `disk` is the member mdmon itself opened for it.
    PhysAdd {
        slot: u16,
        entry: PdEntry,
        disk: Option<Disk>,
    },
    /// The disk holding PD slot `slot` left the container.
    PhysRemove {
        slot: u16,
    },
    VirtAdd {
        entry: VdEntry,
    },
    VirtDelete {
        guid: Guid,
    },
    /// One VD's BVD records (all of them, in payload order).
    VdConf {
        bvds: Vec<Bvd, MAX_UPDATE_BVDS>,
    },
    /// A kind mdadm's handler ignores (spare assignment, unknown magic): accepted, no effect.
    Ignored {
        magic: u32,
    },
}

/// What applying an update did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateOutcome {
    pub changed: bool,
    /// Every array of the container should be checked for spare activation.
    pub check_degraded_all: bool,
    /// This member left the container: the shell closes its fd.
    pub removed_disk: Option<DiskId>,
    /// The update was valid but could not be applied (reason for the log).
    pub dropped: Option<DropReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    /// PHYS add for a slot already in use.
    SlotInUse,
    /// VIRT add for a GUID already present, or no free VD entry.
    VirtExistsOrFull,
    /// VIRT delete / VD_CONF for a GUID without VD entry or configuration.
    UnknownVd,
    /// No room in the model for the new VD.
    Capacity(Capacity),
}

impl UpdateContext {
    /// `prepare_update`: validate and decode a payload.
    pub fn prepare(&self, buf: &[u8]) -> Result<PreparedUpdate, UpdateError> {
        let magic = buf
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or(UpdateError::TooShort { len: buf.len() })?;
        match magic {
            PHYS_RECORDS_MAGIC => {
                let (h, e) = record_update(buf, UpdateKind::Phys)?;
                let h = PhysRecordsHeader::read_from_bytes(h).map_err(|_| too_short(buf))?;
                let entry = PdEntry::read_from_bytes(e).map_err(|_| too_short(buf))?;
                let slot = h.used_pdes.get();
                if slot >= self.max_pdes {
                    return Err(UpdateError::SlotOutOfRange { slot });
                }
                if PdState::from_bits_retain(entry.state.get()).contains(PdState::MISSING) {
                    Ok(PreparedUpdate::PhysRemove { slot })
                } else {
                    Ok(PreparedUpdate::PhysAdd {
                        slot,
                        entry,
                        disk: None,
                    })
                }
            }
            VIRT_RECORDS_MAGIC => {
                let (_, e) = record_update(buf, UpdateKind::Virt)?;
                let entry = VdEntry::read_from_bytes(e).map_err(|_| too_short(buf))?;
                if entry.state == VIRT_DELETE_MARKER {
                    Ok(PreparedUpdate::VirtDelete { guid: entry.guid })
                } else {
                    Ok(PreparedUpdate::VirtAdd { entry })
                }
            }
            VD_CONFIG_MAGIC => self.prepare_conf(buf),
            other => Ok(PreparedUpdate::Ignored { magic: other }),
        }
    }

    fn prepare_conf(&self, buf: &[u8]) -> Result<PreparedUpdate, UpdateError> {
        let rec = self.record_bytes;
        let first = buf.get(..rec).ok_or(UpdateError::Length {
            kind: UpdateKind::VdConf,
            len: buf.len(),
            expected: rec,
        })?;
        let first = Bvd::parse(first, self.mppe)
            .map_err(|error| UpdateError::Record { index: 0, error })?;
        let k = usize::from(first.sec_count());
        let expected = rec * k;
        if buf.len() != expected {
            return Err(UpdateError::Length {
                kind: UpdateKind::VdConf,
                len: buf.len(),
                expected,
            });
        }
        if k > MAX_UPDATE_BVDS {
            return Err(UpdateError::Capacity {
                what: Capacity::Bvds,
            });
        }
        let mut bvds: Vec<Bvd, MAX_UPDATE_BVDS> = Vec::new();
        for (index, chunk) in buf.chunks_exact(rec).enumerate() {
            let b = Bvd::parse(chunk, self.mppe)
                .map_err(|error| UpdateError::Record { index, error })?;
            if b.guid() != first.guid()
                || b.sec_count() != first.sec_count()
                || bvds.iter().any(|o| o.bvd_index() == b.bvd_index())
            {
                return Err(UpdateError::Inconsistent { index });
            }
            bvds.push(b).map_err(|_| UpdateError::Capacity {
                what: Capacity::Bvds,
            })?;
        }
        Ok(PreparedUpdate::VdConf { bvds })
    }
}

fn too_short(buf: &[u8]) -> UpdateError {
    UpdateError::TooShort { len: buf.len() }
}

fn record_update(buf: &[u8], kind: UpdateKind) -> Result<(&[u8], &[u8]), UpdateError> {
    if buf.len() != RECORD_UPDATE_LEN {
        return Err(UpdateError::Length {
            kind,
            len: buf.len(),
            expected: RECORD_UPDATE_LEN,
        });
    }
    Ok(buf.split_at(RECORD_ENTRY))
}

/// Inputs for a disk that joins the container while mdmon runs (`add_to_super_ddf`).
#[derive(Debug, Clone, Copy)]
pub struct NewDisk {
    pub id: DiskId,
    pub disk_bytes: u64,
    /// DDF time now.
    pub now: u32,
    /// Local date as "YYYYMMDD" (part of the PD GUID, as mdadm writes it).
    pub date: [u8; 8],
    /// Random bytes for the GUID tail.
    pub guid_random: [u8; 8],
    /// Random refnum candidates, tried in order; the first one unused (and neither 0 nor
    /// 0xFFFFFFFF, which upstream does not exclude: docs/ddf.md, "Values mdadm leaves
    /// undefined") is taken.
    pub refnum_candidates: [u32; 4],
}

/// Why a new disk cannot be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddDiskError {
    /// Size not a multiple of 512 or not above 32 MiB.
    Size,
    /// No unused PD entry.
    TableFull,
    /// Every refnum candidate was taken or reserved; call again with fresh random values.
    RefnumCollision,
}

impl Container {
    /// The constants `prepare_update` needs.
    pub fn update_context(&self) -> Option<UpdateContext> {
        let g = self.geometry().ok()?;
        Some(UpdateContext {
            mppe: g.mppe,
            record_bytes: g.record_bytes,
            max_pdes: self.phys.max_pdes.get(),
        })
    }

    /// Build the new member and its PHYS update for a disk that joined the container
    /// (manager side; nothing in `self` changes until the update is processed).
    pub fn prepare_disk_add(&self, n: &NewDisk) -> Result<PreparedUpdate, AddDiskError> {
        const MIB32: u64 = 65536; // sectors
        if n.disk_bytes % SECTOR_U64 != 0 || n.disk_bytes / SECTOR_U64 <= MIB32 {
            return Err(AddDiskError::Size);
        }
        let s = n.disk_bytes / SECTOR_U64;
        let slot = self
            .pds
            .iter()
            .position(|e| e.guid == UNUSED_GUID)
            .ok_or(AddDiskError::TableFull)?;
        let slot = u16::try_from(slot).map_err(|_| AddDiskError::TableFull)?;
        let refnum = n
            .refnum_candidates
            .iter()
            .copied()
            .find(|&r| r != 0 && r != UNUSED_REFNUM && self.pds.iter().all(|e| e.refnum.get() != r))
            .ok_or(AddDiskError::RefnumCollision)?;
        // LBAs: same distance from the end as on the reference disk (head of the list).
        let (mut primary, mut secondary, mut workspace) = (s - 32768, s - MIB32, s - MIB32);
        if let Some(r) = self.disks.first() {
            let dist = |lba: u64| r.sectors.checked_sub(lba);
            if let Some(d) = dist(r.primary_lba).filter(|&d| d < s) {
                primary = s - d;
                secondary = if r.secondary_lba == NO_LBA {
                    // Upstream leaves this uninitialised (docs/ddf.md, "Values mdadm
                    // leaves undefined").
                    NO_LBA
                } else {
                    dist(r.secondary_lba)
                        .filter(|&d| d < s)
                        .map(|d| s - d)
                        .unwrap_or(s - MIB32)
                };
                workspace = dist(r.workspace_lba)
                    .filter(|&d| d < s)
                    .map(|d| s - d)
                    .unwrap_or(s - MIB32);
            }
        }
        let config_size = config_size(s, primary, secondary, workspace);

        let mut guid = [b' '; 24];
        guid[..8].copy_from_slice(b"Linux-MD");
        guid[8..16].copy_from_slice(&n.date);
        guid[16..].copy_from_slice(&n.guid_random);

        let mut entry =
            PdEntry::read_from_bytes(&[0xFF; RECORD_ENTRY]).map_err(|_| AddDiskError::TableFull)?;
        entry.guid = guid;
        entry.refnum.set(refnum);
        entry
            .pd_type
            .set((PdType::FORCED_GUID | PdType::GLOBAL_SPARE).bits());
        entry.state.set(PdState::ONLINE.bits());
        entry.config_size.set(config_size);
        entry.path[..17].copy_from_slice(b" Information: nil");
        entry.path[17] = 0;

        let mut pd_data =
            PdData::read_from_bytes(&[0xFF; SECTOR]).map_err(|_| AddDiskError::TableFull)?;
        pd_data.signature.set(PD_DATA_MAGIC);
        pd_data.guid = guid;
        pd_data.refnum.set(refnum);
        pd_data.forced_ref = 1;
        pd_data.forced_guid = 1;
        pd_data.vendor = [b' '; 32];
        pd_data.vendor[..5].copy_from_slice(b"Linux");

        let slots = self.geometry().map(|g| g.config_slots).unwrap_or(0);
        let mut disk = Disk {
            id: n.id,
            sectors: s,
            primary_lba: primary,
            secondary_lba: secondary,
            workspace_lba: workspace,
            timestamp: n.now,
            pd_data,
            pd_index: Some(slot),
            spare: None,
            slots: Vec::new(),
            rebuilding: Vec::new(),
            // Whatever the new disk held before, it carries no record of this container.
            written_records: Vec::new(),
        };
        for _ in 0..slots {
            let _ = disk.slots.push(ConfigSlot::Empty);
        }
        Ok(PreparedUpdate::PhysAdd {
            slot,
            entry,
            disk: Some(disk),
        })
    }

    /// The PHYS update for a member that left the container, if it had a PD entry.
    pub fn prepare_disk_remove(&self, id: DiskId) -> Option<PreparedUpdate> {
        let d = self.disks.get(self.disk_by_id(id)?)?;
        Some(PreparedUpdate::PhysRemove { slot: d.pd_index? })
    }

    /// `process_update`: apply a prepared update to the model (monitor side, no allocation).
    pub fn process_update(&mut self, u: PreparedUpdate, now: u32) -> UpdateOutcome {
        let mut out = UpdateOutcome::default();
        match u {
            PreparedUpdate::PhysRemove { slot } => {
                let s = self.pd_state(usize::from(slot));
                self.set_pd_state(usize::from(slot), s | PdState::MISSING);
                if let Some(i) = self.disks.iter().position(|d| d.pd_index == Some(slot)) {
                    out.removed_disk = self.disks.get(i).map(|d| d.id);
                    crate::total::remove_at(&mut self.disks, i);
                }
                self.mark_pending();
                out.changed = true;
            }
            PreparedUpdate::PhysAdd { slot, entry, disk } => {
                let Some(e) = self.pds.get_mut(usize::from(slot)) else {
                    out.dropped = Some(DropReason::SlotInUse);
                    return out;
                };
                if e.guid != UNUSED_GUID {
                    out.dropped = Some(DropReason::SlotInUse);
                    return out;
                }
                *e = entry;
                self.phys
                    .used_pdes
                    .set(self.phys.used_pdes.get().saturating_add(1));
                self.mark_pending();
                out.changed = true;
                if let Some(mut d) = disk {
                    d.pd_index = Some(slot);
                    if self.disks.insert(0, d).is_err() {
                        out.dropped = Some(DropReason::Capacity(Capacity::Disks));
                    } else {
                        out.check_degraded_all = true;
                    }
                }
            }
            PreparedUpdate::VirtDelete { guid } => {
                if self.vcnum_of(&guid).is_none() || self.volume(&guid).is_none() {
                    out.dropped = Some(DropReason::UnknownVd);
                    return out;
                }
                self.volumes.retain(|v| v.guid != guid);
                self.bvds.retain(|b| b.guid() != &guid);
                for d in self.disks.iter_mut() {
                    for s in d.slots.iter_mut() {
                        if *s == ConfigSlot::Volume(guid) {
                            *s = ConfigSlot::Empty;
                        }
                    }
                }
                // The entry stays, marked Deleted, until the records' removal is on disk
                // (docs/ddf.md, "Deleting a VD"); with no room to remember it, it goes now,
                // as upstream.
                if self.deleting.push((guid, false)).is_err() {
                    self.clear_vd_entry(&guid);
                } else if let Some(e) = self.vds.iter_mut().find(|e| e.guid == guid) {
                    e.state = (e.state & !VdState::MASK) | VdState::Deleted.bits();
                }
                self.mark_pending();
                out.changed = true;
            }
            PreparedUpdate::VirtAdd { entry } => {
                if self.vcnum_of(&entry.guid).is_some() {
                    out.dropped = Some(DropReason::VirtExistsOrFull);
                    return out;
                }
                let Some(e) = self.vds.iter_mut().find(|e| e.guid == UNUSED_GUID) else {
                    out.dropped = Some(DropReason::VirtExistsOrFull);
                    return out;
                };
                *e = entry;
                self.virt
                    .populated_vdes
                    .set(self.virt.populated_vdes.get().saturating_add(1));
                self.mark_pending();
                out.changed = true;
            }
            PreparedUpdate::VdConf { bvds } => self.process_conf(bvds, now, &mut out),
            PreparedUpdate::Ignored { .. } => {}
        }
        out
    }

    fn process_conf(&mut self, bvds: Vec<Bvd, MAX_UPDATE_BVDS>, now: u32, out: &mut UpdateOutcome) {
        let Some(first) = bvds.first() else { return };
        let guid = *first.guid();
        // Disks a known VD lists now and did not before: a spare activated into it, whose
        // data for this VD the kernel has yet to rebuild.
        let mut joined: Vec<usize, { super::MAX_DISKS }> = Vec::new();
        if let Some(vol) = self.volume(&guid).copied() {
            for (d, disk) in self.disks.iter().enumerate() {
                let refnum = disk.refnum();
                let before = self.bvd_listing(&guid, refnum).is_some();
                let after = bvds.iter().any(|b| b.find_refnum(refnum).is_some());
                if after && !before {
                    let _ = joined.push(d);
                }
            }
            // Known VD: only the element tables change (`copy_matching_bvd`).
            for idx in 0..vol.sec_count.max(1) {
                let Some(src) = bvds.iter().find(|b| b.bvd_index() == idx) else {
                    continue;
                };
                if let Some(dst) = self.bvd_mut(&guid, idx) {
                    if dst.elements != src.elements {
                        dst.elements.clone_from(&src.elements);
                        // Upstream bumps the update buffer instead of the stored record, so
                        // the record keeps its old sequence number; mdadm never shows it, and
                        // bumping makes later multi-disk loads unambiguous (docs/ddf.md,
                        // "Sequence bump after a VD_CONF update").
                        dst.bump(now);
                    }
                }
            }
        } else {
            if self.vcnum_of(&guid).is_none() {
                out.dropped = Some(DropReason::UnknownVd);
                return;
            }
            if self.volumes.is_full() {
                out.dropped = Some(DropReason::Capacity(Capacity::Volumes));
                return;
            }
            if self.bvds.capacity() - self.bvds.len() < bvds.len() {
                out.dropped = Some(DropReason::Capacity(Capacity::Bvds));
                return;
            }
            let vol = super::model::Volume {
                guid,
                sec_count: first.sec_count(),
            };
            let _ = self.volumes.insert(0, vol);
            // By reference: dropping a by-value heapless iterator goes through a range
            // index the compiler cannot prove, a panic path on the monitor thread.
            for b in bvds.iter() {
                let mut b = b.clone();
                // Written with a fresh CRC from now on, whatever the sender put there.
                b.crc_ok = true;
                let _ = self.bvds.push(b);
            }
        }
        self.after_conf_change();
        for d in joined.iter() {
            self.start_rebuild(*d, &guid);
            // A disk already in other VDs stops counting as working there too (its Rebuilding
            // bit takes it out of all of them at assembly): their states read Degraded until
            // the bit is cleared, when `set_disk` states them again (docs/ddf.md,
            // "Rebuilding").
            if let Some(refnum) = self.disks.get(*d).map(|disk| disk.refnum()) {
                let mut o = super::ops::Outcome::default();
                self.restate_volumes_listing(refnum, &guid, now, &mut o);
            }
        }
        self.mark_pending();
        out.changed = true;
    }

    /// Common VD_CONF post-processing (docs/ddf.md, "Metadata updates"): Transition marks,
    /// every disk's VD list and PD type, then removal of failed entries no VD uses.
    fn after_conf_change(&mut self) {
        for e in self.pds.iter_mut() {
            let s = PdState::from_bits_retain(e.state.get());
            if s.contains(PdState::FAILED) {
                e.state.set((s | PdState::TRANSITION).bits());
            }
        }
        for d in 0..self.disks.len() {
            self.update_vlist(d);
        }
        self.remove_failed();
    }

    /// `ddf_update_vlist`: rebuild disk `d`'s config slots from the VD list and fix its PD type.
    fn update_vlist(&mut self, d: usize) {
        let Some(disk) = self.disks.get(d) else {
            return;
        };
        let Some(pd) = disk.pd_index.map(usize::from) else {
            return;
        };
        let refnum = disk.refnum();
        let has_spare = disk.spare.is_some();
        let max_part = usize::from(self.header.max_partitions.get());
        let mut listed: Vec<super::layout::Guid, { super::MAX_VOLUMES }> = Vec::new();
        let mut in_degraded = false;
        for v in self.volumes.iter() {
            if self.bvd_listing(&v.guid, refnum).is_none() {
                continue;
            }
            let _ = listed.push(v.guid);
            if let Some(vcnum) = self.vcnum_of(&v.guid) {
                let st = self
                    .vds
                    .get(usize::from(vcnum))
                    .map(|e| VdState::from_byte(e.state));
                if matches!(st, Some(VdState::Degraded | VdState::PartiallyOptimal)) {
                    in_degraded = true;
                }
            }
        }
        if !listed.is_empty() {
            let s = self.pd_state(pd);
            if s.contains(PdState::FAILED) {
                self.set_pd_state(pd, s - PdState::TRANSITION);
            }
        }
        if let Some(disk) = self.disks.get_mut(d) {
            for s in disk.slots.iter_mut() {
                if matches!(s, ConfigSlot::Volume(_)) {
                    *s = ConfigSlot::Empty;
                }
            }
            let mut next = listed.iter();
            for s in disk.slots.iter_mut().take(max_part) {
                if *s != ConfigSlot::Empty {
                    continue;
                }
                match next.next() {
                    Some(g) => *s = ConfigSlot::Volume(*g),
                    None => break,
                }
            }
        }
        let mut t = self.pd_type(pd);
        if !listed.is_empty() {
            t -= PdType::GLOBAL_SPARE;
            if !t.contains(PdType::ACTIVE) {
                t |= PdType::ACTIVE;
                if in_degraded {
                    let s = self.pd_state(pd);
                    self.set_pd_state(pd, s | PdState::REBUILDING);
                }
            }
        }
        if has_spare {
            t = (t - PdType::GLOBAL_SPARE) | PdType::SPARE;
        }
        if listed.is_empty() && !has_spare {
            t = (t | PdType::GLOBAL_SPARE) - PdType::SPARE - PdType::ACTIVE;
        }
        self.set_pd_type(pd, t);
    }

    /// `ddf_remove_failed`, at the end of the table only: drop the Failed+Transition entries
    /// of disks no longer present that no kept entry follows. mdadm compacts the whole
    /// table, which renumbers every disk after a dropped entry; a power cut between the
    /// members' writes then leaves copies that disagree on the numbers, and mdadm's assembly,
    /// which compares members by those numbers, drops the members holding the older copy
    /// ("ignoring … as it reports … as failed") and can start no volume (rig `ddf-cut`, seed
    /// 625; docs/ddf.md, "Vacated PD entries"). An entry in the middle stays, Failed, until
    /// it is at the end. Vacated entries are wiped whole, where upstream clears only their
    /// GUID and leaves phantom refnums behind.
    fn remove_failed(&mut self) {
        let droppable = |c: &Self, i: usize| -> bool {
            let Some(e) = c.pds.get(i) else { return true };
            if e.refnum.get() == UNUSED_REFNUM {
                return true;
            }
            let s = PdState::from_bits_retain(e.state.get());
            let present = c
                .disks
                .iter()
                .any(|d| d.pd_index.map(usize::from) == Some(i));
            s.contains(PdState::FAILED | PdState::TRANSITION) && !present
        };
        let mut end = self.pds.len();
        while end > 0 && droppable(self, end - 1) {
            end -= 1;
        }
        let used = self
            .pds
            .iter()
            .take(end)
            .filter(|e| e.refnum.get() != UNUSED_REFNUM)
            .count();
        if let Ok(k) = u16::try_from(used) {
            self.phys.used_pdes.set(k);
        }
        if let Some(tail) = self.pds.get_mut(end..) {
            for e in tail {
                e.as_mut_bytes().fill(0xFF);
            }
        }
    }
}

/// mdadm's `_set_config_size` (docs/ddf.md, "Where the metadata lives"), all in sectors.
pub fn config_size(sectors: u64, primary: u64, secondary: u64, workspace: u64) -> u64 {
    let mut cs = sectors.saturating_sub(65536).min(primary);
    if secondary != NO_LBA {
        cs = cs.min(secondary);
    }
    if workspace < cs {
        let gap = cs - workspace;
        // A vendor's workspace far below the metadata is ignored (mdadm's sanity check).
        if !(gap > 2_097_152 && gap > sectors / 16) {
            cs = workspace;
        }
    }
    cs
}

impl core::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UpdateError::TooShort { len } => write!(f, "update of {len} bytes has no magic"),
            UpdateError::Length {
                kind,
                len,
                expected,
            } => {
                write!(f, "{kind:?} update of {len} bytes, {expected} expected")
            }
            UpdateError::SlotOutOfRange { slot } => write!(f, "PD slot {slot} past the table"),
            UpdateError::Record { index, error } => write!(f, "record {index}: {error}"),
            UpdateError::Inconsistent { index } => {
                write!(f, "record {index} does not belong with the first")
            }
            UpdateError::Capacity { what } => write!(f, "{what:?} capacity exceeded"),
        }
    }
}

/// What [`Container::resume_deletions`] found after a load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumedDeletions {
    /// Deletes cut between their two syncs: the entry is cleared by the next sync.
    pub finished: usize,
    /// Deletes cut inside their first sync: the volume is kept.
    pub undone: usize,
}

/// Deleting a VD in two syncs (docs/ddf.md, "Deleting a VD").
impl Container {
    /// Upstream clears only the GUID; the other bytes of an unused entry are invisible to
    /// mdadm, so the entry is wiped whole. The populated count is left as upstream leaves
    /// it: `mdadm --examine` prints it (docs/ddf.md, "Deleted VD entries").
    fn clear_vd_entry(&mut self, guid: &Guid) {
        if let Some(e) = self.vds.iter_mut().find(|e| &e.guid == guid) {
            e.as_mut_bytes().fill(0xFF);
        }
    }

    /// A sync was laid out: the deletions pending in it have their records dropped.
    pub fn deletions_laid_out(&mut self) {
        for d in self.deleting.iter_mut() {
            d.1 = true;
        }
    }

    /// The last sync was not written: the records it dropped may still be on the disks.
    pub fn deletions_unwritten(&mut self) {
        for d in self.deleting.iter_mut() {
            d.1 = false;
        }
    }

    /// After a load: takes up deletes a daemon left between their two syncs (docs/ddf.md,
    /// "Deleting a VD"). An entry marked Deleted that no loaded member holds a record of
    /// is cleared by the next sync. One that some member still holds a record of was cut in
    /// its first sync and mdadm (which ignores the state) may have started the volume from
    /// it: the delete is undone, every member listed in the record carries it again and the
    /// entry gets the volume's state back.
    pub fn resume_deletions(&mut self) -> ResumedDeletions {
        let mut out = ResumedDeletions::default();
        for vc in 0..self.vds.len() {
            let Some(e) = self.vds.get(vc) else { continue };
            let guid = e.guid;
            if guid == UNUSED_GUID || VdState::from_byte(e.state) != VdState::Deleted {
                continue;
            }
            if self.volume(&guid).is_none() {
                if self.deleting.push((guid, true)).is_err() {
                    self.clear_vd_entry(&guid);
                }
                self.mark_pending();
                out.finished += 1;
                continue;
            }
            for d in 0..self.disks.len() {
                let listed = self
                    .disks
                    .get(d)
                    .is_some_and(|disk| self.bvd_listing(&guid, disk.refnum()).is_some());
                if listed {
                    self.ensure_volume_slot(d, &guid);
                }
            }
            let state = self.volume_state(&guid).unwrap_or(VdState::Failed);
            if let Some(e) = self.vds.get_mut(vc) {
                e.state = (e.state & !VdState::MASK) | state.bits();
            }
            self.mark_pending();
            out.undone += 1;
        }
        out
    }

    /// Clears the entries of deleted VDs whose records are off the disks, as a change of its
    /// own for the next sync. Returns whether any was cleared.
    pub fn finish_deletions(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.deleting.len() {
            if let Some(&(guid, true)) = self.deleting.get(i) {
                self.clear_vd_entry(&guid);
                any = true;
            }
        }
        self.deleting.retain(|d| !d.1);
        if any {
            self.mark_pending();
        }
        any
    }
}
