//! IMSM metadata updates (docs/imsm.md, "Metadata updates"; docs/protocol.md).
//!
//! mdadm sends its in-memory C structs verbatim over the control socket (x86_64, LP64,
//! native little-endian). [`decode`] is a bounded, validating decoder for each type; a
//! hostile payload yields an [`UpdateError`], never a panic or an out-of-bounds read.
//! [`prepare_update`] (manager side) turns a decoded message into a [`PreparedUpdate`] that
//! owns everything [`Container::process_update`] (monitor side) needs, so processing never
//! allocates and never looks at the manager's state.
//!
//! Wire layouts (offset:size, all integers LE):
//!
//! | type | name | layout | min len |
//! |--:|---|---|--:|
//! | 0 | activate_spare | type 0:4, pad, ptr 8:8, slot 16:4, array 20:4, ptr 24:8 | refused: carries pointers, mdmon-internal |
//! | 1 | create_array | type 0:4, dev_idx 4:4, imsm_dev (112+48+4n) 8:, n×16-byte serials | 172 and the full tail |
//! | 2 | kill_array | type, dev_idx 4:4 | 8 |
//! | 3 | rename_array | type, name 4:16, dev_idx 20:4 | 24 |
//! | 4 | add_remove_disk | type | 4 (carries nothing; the manager builds the disk list) |
//! | 5 | reshape_container_disks | type, old 4, new 8, new_disks[new-old] 12: (u32 dev_t) | 16 and the full list |
//! | 6 | reshape_migration | type, old 4, new 8, subdev 12, new_level 16, new_layout 20, new_chunksize 24, new_disks\[0\] 28 | 32 |
//! | 7 | takeover | type, subarray 4, direction 8 | 12 |
//! | 8 | general_migration_checkpoint | type, pad, u64 curr_migr_unit 8 | 16 |
//! | 9 | size_change | type, subdev 4, s64 new_size 8 | 16 |
//! | 10 | prealloc_badblocks_mem | type | 4 |
//! | 11 | rwh_policy | type, new_policy 4, dev_idx 8 | 12 |

use heapless::Vec;
use zerocopy::FromBytes;

use super::container::{Compat, Container, DiskSlot, MemberId, PresentDisk, MAX_PRESENT_DISKS};
use super::error::OpError;
use super::layout::*;
use super::model::*;
use super::ops::{round_size_to_mb, set_array_size, WhichMap};

/// Update type numbers (`enum imsm_update_type`).
pub mod kind {
    pub const ACTIVATE_SPARE: u32 = 0;
    pub const CREATE_ARRAY: u32 = 1;
    pub const KILL_ARRAY: u32 = 2;
    pub const RENAME_ARRAY: u32 = 3;
    pub const ADD_REMOVE_DISK: u32 = 4;
    pub const RESHAPE_CONTAINER_DISKS: u32 = 5;
    pub const RESHAPE_MIGRATION: u32 = 6;
    pub const TAKEOVER: u32 = 7;
    pub const GENERAL_MIGRATION_CHECKPOINT: u32 = 8;
    pub const SIZE_CHANGE: u32 = 9;
    pub const PREALLOC_BADBLOCKS_MEM: u32 = 10;
    pub const RWH_POLICY: u32 = 11;
}

/// Why an update was refused (the client still gets its ack; the update is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateError {
    /// Fewer bytes than the type's struct (or its variable tail) needs.
    TooShort {
        kind: u32,
        len: usize,
        needed: usize,
    },
    /// Unknown type number.
    UnknownType(u32),
    /// A type that only mdmon itself may generate (activate_spare carries pointers).
    InternalOnly(u32),
    /// A field is out of range (index, count, level, direction...).
    BadField(&'static str),
    /// The embedded volume record is malformed.
    BadVolume,
    /// The update does not apply to the current metadata (stale index, active volume...).
    NotApplicable(&'static str),
    /// A fixed capacity would be exceeded.
    CapacityExceeded,
}

impl From<OpError> for UpdateError {
    fn from(e: OpError) -> UpdateError {
        match e {
            OpError::NoSuchVolume(_) => UpdateError::NotApplicable("no such volume"),
            OpError::NoSuchSlot(_) => UpdateError::NotApplicable("no such slot"),
            OpError::CapacityExceeded => UpdateError::CapacityExceeded,
        }
    }
}

impl core::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// One spare assignment of an activate_spare update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpareAssignment {
    /// The chosen disk.
    pub member: MemberId,
    pub slot: u8,
    pub volume: u8,
}

/// A container disk change queued by the manager (add_remove_disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskChange {
    /// A new device joined the container: becomes a pristine spare.
    Add(PresentDisk),
    /// A device left the container.
    Remove(MemberId),
}

/// Most disk changes carried by one add_remove_disk update.
pub const MAX_DISK_CHANGES: usize = MAX_PRESENT_DISKS;

/// A decoded (and, for some types, pre-resolved) update.
// Without `alloc` the big variants cannot be boxed; an update is built once by the manager
// and moved to the monitor, so the size (about 2 KiB) costs nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// `random` is added to family_num once per assignment (upstream's `super->random`).
    ActivateSpare {
        random: u32,
        assignments: Vec<SpareAssignment, MAX_MEMBERS>,
    },
    CreateArray {
        dev_idx: u32,
        volume: Volume,
        serials: Vec<[u8; 16], MAX_MEMBERS>,
    },
    KillArray {
        dev_idx: u32,
    },
    RenameArray {
        name: [u8; 16],
        dev_idx: u32,
    },
    AddRemoveDisk(Vec<DiskChange, MAX_DISK_CHANGES>),
    ReshapeContainerDisks {
        old_raid_disks: u32,
        new_raid_disks: u32,
        new_disks: Vec<u32, MAX_MEMBERS>,
    },
    ReshapeMigration(ReshapeMigration),
    Takeover {
        subarray: u32,
        to_raid10: bool,
    },
    GeneralMigrationCheckpoint {
        curr_migr_unit: u64,
    },
    SizeChange {
        subdev: u32,
        new_size: u64,
    },
    PreallocBadblocksMem,
    RwhPolicy {
        new_policy: u8,
        dev_idx: u32,
    },
}

/// Fields of a reshape_migration message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReshapeMigration {
    pub old_raid_disks: i32,
    pub new_raid_disks: i32,
    pub subdev: u32,
    pub new_level: i32,
    pub new_layout: i32,
    /// KiB; -1 = unchanged.
    pub new_chunksize: i32,
    /// dev_t of the disk to add (0→5), -1 = none given.
    pub new_disk: i32,
}

/// An update ready for `process_update`: decoded, validated against a snapshot of the
/// container, with any choice (e.g. the 0→5 disk) already made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedUpdate {
    pub update: Update,
    /// For reshape_migration 0→5: the spare chosen in prepare.
    pub chosen_disk: Option<MemberId>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    u32_at(b, off).map(|v| v as i32)
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let w = b.get(off..off + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(w);
    Some(u64::from_le_bytes(a))
}

/// Minimum length `prepare_update` requires per type (sizeof the C struct on x86_64).
pub fn min_len(kind: u32) -> Option<usize> {
    Some(match kind {
        kind::ACTIVATE_SPARE => 32,
        // 8 + sizeof(struct imsm_dev) with its one-member map (164).
        kind::CREATE_ARRAY => 8 + DEV_LEN + MAP_HEADER_LEN + ORD_LEN,
        kind::KILL_ARRAY => 8,
        kind::RENAME_ARRAY => 24,
        kind::ADD_REMOVE_DISK | kind::PREALLOC_BADBLOCKS_MEM => 4,
        kind::RESHAPE_CONTAINER_DISKS => 16,
        kind::RESHAPE_MIGRATION => 32,
        kind::TAKEOVER | kind::RWH_POLICY => 12,
        kind::GENERAL_MIGRATION_CHECKPOINT | kind::SIZE_CHANGE => 16,
        _ => return None,
    })
}

/// Decode a socket payload. Type 0 is refused (it is mdmon-internal and carries pointers).
pub fn decode(b: &[u8]) -> Result<Update, UpdateError> {
    let k = u32_at(b, 0).ok_or(UpdateError::TooShort {
        kind: u32::MAX,
        len: b.len(),
        needed: 4,
    })?;
    let needed = min_len(k).ok_or(UpdateError::UnknownType(k))?;
    if b.len() < needed {
        return Err(UpdateError::TooShort {
            kind: k,
            len: b.len(),
            needed,
        });
    }
    let short = || UpdateError::TooShort {
        kind: k,
        len: b.len(),
        needed,
    };
    Ok(match k {
        kind::ACTIVATE_SPARE => return Err(UpdateError::InternalOnly(k)),
        kind::CREATE_ARRAY => decode_create_array(b)?,
        kind::KILL_ARRAY => Update::KillArray {
            dev_idx: u32_at(b, 4).ok_or_else(short)?,
        },
        kind::RENAME_ARRAY => {
            let mut name = [0u8; 16];
            name.copy_from_slice(b.get(4..20).ok_or_else(short)?);
            // mdadm forces the last byte to NUL; do the same rather than trust it.
            name[15] = 0;
            Update::RenameArray {
                name,
                dev_idx: u32_at(b, 20).ok_or_else(short)?,
            }
        }
        kind::ADD_REMOVE_DISK => Update::AddRemoveDisk(Vec::new()),
        kind::RESHAPE_CONTAINER_DISKS => {
            let old = u32_at(b, 4).ok_or_else(short)?;
            let new = u32_at(b, 8).ok_or_else(short)?;
            let delta = new
                .checked_sub(old)
                .filter(|&d| d > 0)
                .ok_or(UpdateError::BadField("new_raid_disks"))?;
            if delta as usize > MAX_MEMBERS || new as usize > MAX_MEMBERS {
                return Err(UpdateError::BadField("new_raid_disks"));
            }
            let tail = 12 + 4 * delta as usize;
            if b.len() < tail {
                return Err(UpdateError::TooShort {
                    kind: k,
                    len: b.len(),
                    needed: tail,
                });
            }
            let mut new_disks = Vec::new();
            for i in 0..delta as usize {
                let _ = new_disks.push(u32_at(b, 12 + 4 * i).ok_or_else(short)?);
            }
            Update::ReshapeContainerDisks {
                old_raid_disks: old,
                new_raid_disks: new,
                new_disks,
            }
        }
        kind::RESHAPE_MIGRATION => {
            let f = |o| i32_at(b, o).ok_or_else(short);
            let subdev = f(12)?;
            if !(0..=1).contains(&subdev) {
                return Err(UpdateError::BadField("subdev"));
            }
            Update::ReshapeMigration(ReshapeMigration {
                old_raid_disks: f(4)?,
                new_raid_disks: f(8)?,
                subdev: subdev as u32,
                new_level: f(16)?,
                new_layout: f(20)?,
                new_chunksize: f(24)?,
                new_disk: f(28)?,
            })
        }
        kind::TAKEOVER => {
            let direction = u32_at(b, 8).ok_or_else(short)?;
            if direction > 1 {
                return Err(UpdateError::BadField("direction"));
            }
            Update::Takeover {
                subarray: u32_at(b, 4).ok_or_else(short)?,
                to_raid10: direction == 1,
            }
        }
        kind::GENERAL_MIGRATION_CHECKPOINT => Update::GeneralMigrationCheckpoint {
            curr_migr_unit: u64_at(b, 8).ok_or_else(short)?,
        },
        kind::SIZE_CHANGE => {
            let subdev = u32_at(b, 4).ok_or_else(short)?;
            if subdev > 1 {
                return Err(UpdateError::BadField("subdev"));
            }
            let size = u64_at(b, 8).ok_or_else(short)? as i64;
            if size <= 0 {
                return Err(UpdateError::BadField("new_size"));
            }
            Update::SizeChange {
                subdev,
                new_size: size as u64,
            }
        }
        kind::PREALLOC_BADBLOCKS_MEM => Update::PreallocBadblocksMem,
        kind::RWH_POLICY => {
            let p = u32_at(b, 4).ok_or_else(short)?;
            let policy = u8::try_from(p)
                .ok()
                .filter(|&p| p <= rwh::BITMAP)
                .ok_or(UpdateError::BadField("new_policy"))?;
            Update::RwhPolicy {
                new_policy: policy,
                dev_idx: u32_at(b, 8).ok_or_else(short)?,
            }
        }
        other => return Err(UpdateError::UnknownType(other)),
    })
}

fn decode_create_array(b: &[u8]) -> Result<Update, UpdateError> {
    let dev_idx = u32_at(b, 4).ok_or(UpdateError::BadVolume)?;
    let body = b.get(8..).ok_or(UpdateError::BadVolume)?;
    let dev = RawDev::read_from_prefix(body)
        .map_err(|_| UpdateError::BadVolume)?
        .0;
    if dev.migr_state != 0 {
        // A new volume never migrates; its record length would also be ambiguous.
        return Err(UpdateError::BadField("migr_state"));
    }
    let map_bytes = body.get(DEV_LEN..).ok_or(UpdateError::BadVolume)?;
    let raw = RawMap::read_from_prefix(map_bytes)
        .map_err(|_| UpdateError::BadVolume)?
        .0;
    let n = usize::from(raw.num_members);
    if n == 0 || n > MAX_MEMBERS {
        return Err(UpdateError::BadField("num_members"));
    }
    let dev_len = DEV_LEN + MAP_HEADER_LEN + ORD_LEN * n;
    let needed = 8 + dev_len + 16 * n;
    if b.len() < needed {
        return Err(UpdateError::TooShort {
            kind: kind::CREATE_ARRAY,
            len: b.len(),
            needed,
        });
    }
    let mut ords = Vec::new();
    for i in 0..n {
        let _ = ords
            .push(u32_at(b, 8 + DEV_LEN + MAP_HEADER_LEN + 4 * i).ok_or(UpdateError::BadVolume)?);
    }
    let mut serials = Vec::new();
    for i in 0..n {
        let mut s = [0u8; 16];
        s.copy_from_slice(
            b.get(8 + dev_len + 16 * i..8 + dev_len + 16 * (i + 1))
                .ok_or(UpdateError::BadVolume)?,
        );
        let _ = serials.push(s);
    }
    Ok(Update::CreateArray {
        dev_idx,
        volume: Volume {
            dev,
            map0: Map { raw, ords },
            map1: None,
        },
        serials,
    })
}

/// Encode an update the way mdadm would send it (for tests and tools); returns the length.
pub fn encode(u: &Update, out: &mut [u8]) -> Result<usize, UpdateError> {
    let mut w = Wire { out, len: 0 };
    match u {
        Update::ActivateSpare { .. } => {
            return Err(UpdateError::InternalOnly(kind::ACTIVATE_SPARE))
        }
        Update::CreateArray {
            dev_idx,
            volume,
            serials,
        } => {
            w.u32s(&[kind::CREATE_ARRAY, *dev_idx])?;
            w.bytes(zerocopy::IntoBytes::as_bytes(&volume.dev))?;
            w.bytes(zerocopy::IntoBytes::as_bytes(&volume.map0.raw))?;
            for o in volume.map0.ords.iter() {
                w.u32s(&[*o])?;
            }
            for s in serials.iter() {
                w.bytes(s)?;
            }
        }
        Update::KillArray { dev_idx } => w.u32s(&[kind::KILL_ARRAY, *dev_idx])?,
        Update::RenameArray { name, dev_idx } => {
            w.u32s(&[kind::RENAME_ARRAY])?;
            w.bytes(name)?;
            w.u32s(&[*dev_idx])?;
        }
        Update::AddRemoveDisk(_) => w.u32s(&[kind::ADD_REMOVE_DISK])?,
        Update::ReshapeContainerDisks {
            old_raid_disks,
            new_raid_disks,
            new_disks,
        } => {
            w.u32s(&[
                kind::RESHAPE_CONTAINER_DISKS,
                *old_raid_disks,
                *new_raid_disks,
            ])?;
            for d in new_disks.iter() {
                w.u32s(&[*d])?;
            }
            if new_disks.is_empty() {
                w.u32s(&[0])?;
            }
        }
        Update::ReshapeMigration(r) => w.u32s(&[
            kind::RESHAPE_MIGRATION,
            r.old_raid_disks as u32,
            r.new_raid_disks as u32,
            r.subdev,
            r.new_level as u32,
            r.new_layout as u32,
            r.new_chunksize as u32,
            r.new_disk as u32,
        ])?,
        Update::Takeover {
            subarray,
            to_raid10,
        } => w.u32s(&[kind::TAKEOVER, *subarray, u32::from(*to_raid10)])?,
        Update::GeneralMigrationCheckpoint { curr_migr_unit } => w.u32s(&[
            kind::GENERAL_MIGRATION_CHECKPOINT,
            0,
            *curr_migr_unit as u32,
            (*curr_migr_unit >> 32) as u32,
        ])?,
        Update::SizeChange { subdev, new_size } => w.u32s(&[
            kind::SIZE_CHANGE,
            *subdev,
            *new_size as u32,
            (*new_size >> 32) as u32,
        ])?,
        Update::PreallocBadblocksMem => w.u32s(&[kind::PREALLOC_BADBLOCKS_MEM])?,
        Update::RwhPolicy {
            new_policy,
            dev_idx,
        } => w.u32s(&[kind::RWH_POLICY, u32::from(*new_policy), *dev_idx])?,
    }
    Ok(w.len)
}

struct Wire<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Wire<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), UpdateError> {
        let end = self.len + b.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(UpdateError::CapacityExceeded)?
            .copy_from_slice(b);
        self.len = end;
        Ok(())
    }
    fn u32s(&mut self, v: &[u32]) -> Result<(), UpdateError> {
        for x in v {
            self.bytes(&x.to_le_bytes())?;
        }
        Ok(())
    }
}

/// glibc `dev_t` truncated to 32 bits, as `new_disks[]` carries it.
pub fn decode_dev_t(v: u32) -> (u32, u32) {
    let major = (v >> 8) & 0xfff;
    let minor = (v & 0xff) | ((v >> 12) & 0xfff00);
    (major, minor)
}

/// Manager side of `prepare_update`: decode and validate `payload` against `snapshot`
/// (read-only), resolving choices the monitor must not make.
pub fn prepare_update(snapshot: &Container, payload: &[u8]) -> Result<PreparedUpdate, UpdateError> {
    let update = decode(payload)?;
    if let Update::SizeChange { subdev, new_size } = &update {
        check_size_fits(snapshot, *subdev, *new_size)?;
    }
    let mut chosen_disk = None;
    if let Update::ReshapeMigration(r) = &update {
        let vol = snapshot
            .mpb
            .volumes
            .get(r.subdev as usize)
            .ok_or(UpdateError::NotApplicable("subdev"))?;
        if vol.map1.is_some() {
            return Err(UpdateError::NotApplicable("volume already migrating"));
        }
        if vol.map0.level() == 0 && r.new_level == 5 {
            chosen_disk = choose_spare_for(snapshot, vol);
        }
    }
    Ok(PreparedUpdate {
        update,
        chosen_disk,
    })
}

/// A size change must fit every member of the volume: its new per-member extent (as
/// applied: size over data members, plus 2048) may neither reach the metadata's reserved
/// tail of any member disk nor run into a volume placed after it on a shared disk. Refused
/// here, before mdadm is acked, rather than applied beyond the disks (docs/imsm.md,
/// "Metadata updates").
fn check_size_fits(c: &Container, subdev: u32, new_size: u64) -> Result<(), UpdateError> {
    let vol = c
        .mpb
        .volumes
        .get(subdev as usize)
        .ok_or(UpdateError::NotApplicable("subdev"))?;
    let d = vol.map0.data_members();
    if d == 0 {
        return Err(UpdateError::NotApplicable("no data members"));
    }
    let start = vol.map0.raw.pba_of_lba0();
    let end = start.saturating_add(new_size / d + 2048);
    let beyond = UpdateError::NotApplicable("new size beyond the members' capacity");
    for slot in 0..vol.map0.num_members() {
        let idx = (vol.map0.ord(slot).unwrap_or(0) & 0x00ff_ffff) as usize;
        let Some(disk) = c.mpb.disks.get(idx) else {
            return Err(UpdateError::NotApplicable("member not in the disk table"));
        };
        if end.saturating_add(MPB_SECTOR_CNT) > disk.total_blocks() {
            return Err(beyond);
        }
        for (j, other) in c.mpb.volumes.iter().enumerate() {
            if j == subdev as usize {
                continue;
            }
            let shares = (0..other.map0.num_members())
                .any(|s| (other.map0.ord(s).unwrap_or(0) & 0x00ff_ffff) as usize == idx);
            let o = other.map0.raw.pba_of_lba0();
            if shares && o >= start && end > o {
                return Err(beyond);
            }
        }
    }
    Ok(())
}

/// First pristine spare with room for `vol`'s per-member footprint (0→5 reshape).
fn choose_spare_for(c: &Container, vol: &Volume) -> Option<MemberId> {
    let need = vol
        .map0
        .raw
        .pba_of_lba0()
        .saturating_add(vol.map0.raw.blocks_per_member());
    c.disks
        .iter()
        .find(|d| {
            d.slot == DiskSlot::Spare
                && !d.detached
                && d.entry.total_blocks() >= need.saturating_add(MPB_SECTOR_CNT)
        })
        .map(|d| d.member)
}

/// What processing an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessOutcome {
    pub needs_sync: bool,
    /// Every tracked array should re-check for spares (disks were added).
    pub check_degraded_all: bool,
}

/// Volume-name rule of mdadm 4.6 (`imsm_is_name_allowed`): 1–16 bytes of the POSIX
/// portable filename set, no leading '.' or '-', unique among the container's volumes.
pub fn name_allowed(c: &Container, name: &[u8], except: Option<usize>) -> bool {
    let name = serial_str_slice(name);
    if name.is_empty() || name.len() > 16 {
        return false;
    }
    if matches!(name.first(), Some(b'.') | Some(b'-')) {
        return false;
    }
    if !name
        .iter()
        .all(|&ch| ch.is_ascii_alphanumeric() || ch == b'.' || ch == b'_' || ch == b'-')
    {
        return false;
    }
    !c.mpb
        .volumes
        .iter()
        .enumerate()
        .any(|(i, v)| Some(i) != except && v.dev.name() == name)
}

fn serial_str_slice(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b.get(..end).unwrap_or(&[])
}

impl Container {
    /// Monitor side of `process_update`: apply `u`. `active` lists the volume indexes of
    /// arrays mdmon currently monitors.
    pub fn process_update(
        &mut self,
        u: PreparedUpdate,
        active: &[usize],
    ) -> Result<ProcessOutcome, UpdateError> {
        let mut out = ProcessOutcome::default();
        match u.update {
            Update::GeneralMigrationCheckpoint { curr_migr_unit } => {
                for v in self.mpb.volumes.iter_mut().filter(|v| v.is_gen_migration()) {
                    v.dev.set_curr_migr_unit(curr_migr_unit);
                }
                self.touch();
            }
            Update::Takeover {
                subarray,
                to_raid10,
            } => self.takeover(subarray as usize, to_raid10)?,
            Update::ReshapeContainerDisks {
                old_raid_disks,
                new_raid_disks,
                new_disks,
            } => self.reshape_container_disks(old_raid_disks, new_raid_disks, &new_disks)?,
            Update::ReshapeMigration(r) => self.reshape_migration(&r, u.chosen_disk)?,
            Update::SizeChange { subdev, new_size } => {
                let vol = self
                    .mpb
                    .volumes
                    .get_mut(subdev as usize)
                    .ok_or(UpdateError::NotApplicable("subdev"))?;
                let d = vol.map0.data_members();
                if d == 0 {
                    return Err(UpdateError::NotApplicable("no data members"));
                }
                vol.dev.set_size(round_size_to_mb(new_size, d));
                vol.map0.raw.set_blocks_per_member(new_size / d + 2048);
                recompute_stripes(&mut vol.map0, new_size);
                self.touch();
            }
            Update::ActivateSpare {
                random,
                assignments,
            } => {
                self.random = random;
                self.apply_activate_spare(&assignments, active)?
            }
            Update::CreateArray {
                dev_idx,
                volume,
                serials,
            } => self.create_array(dev_idx, volume, &serials)?,
            Update::KillArray { dev_idx } => {
                let victim = dev_idx as usize;
                if victim >= self.mpb.volumes.len() {
                    return Err(UpdateError::NotApplicable("no such volume"));
                }
                if self.mpb.volumes.len() == 1 {
                    return Err(UpdateError::NotApplicable("only volume"));
                }
                if active.iter().any(|&a| a >= victim) {
                    return Err(UpdateError::NotApplicable("volume active"));
                }
                crate::total::remove_at(&mut self.mpb.volumes, victim);
                self.touch();
            }
            Update::RenameArray { name, dev_idx } => {
                let v = dev_idx as usize;
                if v >= self.mpb.volumes.len() {
                    return Err(UpdateError::NotApplicable("no such volume"));
                }
                if active.contains(&v) {
                    return Err(UpdateError::NotApplicable("volume active"));
                }
                if !name_allowed(self, &name, Some(v)) {
                    return Err(UpdateError::BadField("name"));
                }
                if let Some(vol) = self.mpb.volumes.get_mut(v) {
                    vol.dev.volume = name;
                }
                self.touch();
            }
            Update::AddRemoveDisk(changes) => {
                let mut added = false;
                // By reference: a by-value heapless iterator left early (the `?` below)
                // drops its rest through a range index the compiler cannot prove, a
                // panic path on the monitor thread.
                for ch in changes.iter() {
                    match ch {
                        DiskChange::Add(d) => {
                            let mut d = d.clone();
                            d.slot = DiskSlot::Spare;
                            d.detached = false;
                            if d.entry.total_blocks_hi.get() > 0 {
                                let h = &mut self.mpb.header;
                                h.attributes.set(h.attributes.get() | attrib::TWO_TB_DISK);
                            }
                            // Newest first, like upstream's list.
                            self.disks
                                .insert(0, d)
                                .map_err(|_| UpdateError::CapacityExceeded)?;
                            added = true;
                        }
                        DiskChange::Remove(member) => {
                            if let Some(pos) = self.disks.iter().position(|d| d.member == *member) {
                                let spare = self
                                    .disks
                                    .get(pos)
                                    .is_some_and(|d| !matches!(d.slot, DiskSlot::Table(_)));
                                if spare {
                                    crate::total::remove_at(&mut self.disks, pos);
                                } else if let Some(d) = self.disks.get_mut(pos) {
                                    d.detached = true;
                                }
                            }
                        }
                    }
                }
                if added {
                    self.touch();
                    out.check_degraded_all = true;
                }
            }
            Update::PreallocBadblocksMem => {}
            Update::RwhPolicy {
                new_policy,
                dev_idx,
            } => {
                let vol = self
                    .mpb
                    .volumes
                    .get_mut(dev_idx as usize)
                    .ok_or(UpdateError::NotApplicable("dev_idx"))?;
                if vol.dev.rwh_policy != new_policy {
                    vol.dev.rwh_policy = new_policy;
                    self.touch();
                }
            }
        }
        out.needs_sync = self.pending;
        Ok(out)
    }

    fn apply_activate_spare(
        &mut self,
        list: &[SpareAssignment],
        active: &[usize],
    ) -> Result<(), UpdateError> {
        // The manager chose these disks on a snapshot, not on the monitor's live metadata
        // as upstream's manager does; the monitor may have recorded a failure since. Check
        // every choice before changing anything, so a refusal leaves the container as it
        // was: a disk that failed (e.g. the slot's own disk, offered back as its "re-add"
        // by a snapshot older than its failure) or left the container must never become a
        // rebuild target, or the table keeps the failed disk and the real target is never
        // written.
        for rec in list {
            self.mpb
                .volumes
                .get(usize::from(rec.volume))
                .ok_or(UpdateError::NotApplicable("volume"))?
                .prev_map()
                .index_at(usize::from(rec.slot))
                .ok_or(UpdateError::NotApplicable("slot"))?;
            let d = self
                .disks
                .iter()
                .find(|d| d.member == rec.member)
                .ok_or(UpdateError::NotApplicable("disk gone"))?;
            if d.detached {
                return Err(UpdateError::NotApplicable("disk left the container"));
            }
            match d.slot {
                DiskSlot::Table(i) => {
                    if self.entry(u32::from(i)).is_none_or(RawDisk::is_failed) {
                        return Err(UpdateError::NotApplicable("chosen disk failed"));
                    }
                }
                DiskSlot::Spare => {}
                DiskSlot::Unusable => return Err(UpdateError::NotApplicable("disk unusable")),
            }
        }
        for (n, rec) in list.iter().enumerate() {
            let v = usize::from(rec.volume);
            let slot = usize::from(rec.slot);
            let vol = self
                .mpb
                .volumes
                .get(v)
                .ok_or(UpdateError::NotApplicable("volume"))?;
            let victim = vol
                .prev_map()
                .index_at(slot)
                .ok_or(UpdateError::NotApplicable("slot"))?;
            let pos = self
                .disks
                .iter()
                .position(|d| d.member == rec.member)
                .ok_or(UpdateError::NotApplicable("disk gone"))?;
            // Failures among the other slots (source map once migrating, as upstream's
            // MAP_X) decide the state the rebuild heads for.
            let mut failed = 0;
            for i in 0..vol.map0.num_members() {
                if i == slot {
                    continue;
                }
                let Some(idx) = vol.prev_map().index_at(i) else {
                    continue;
                };
                if self.disk_by_index(idx).is_none()
                    || self.entry(idx).is_none_or(RawDisk::is_failed)
                {
                    failed += 1;
                }
            }
            let new_index = match self.disks.get(pos).map(|d| d.slot) {
                Some(DiskSlot::Table(i)) => u32::from(i),
                Some(DiskSlot::Spare) => {
                    let entry = self
                        .disks
                        .get(pos)
                        .map(|d| d.entry)
                        .ok_or(UpdateError::NotApplicable("disk"))?;
                    let idx = self.mpb.disks.len();
                    self.mpb
                        .disks
                        .push(entry)
                        .map_err(|_| UpdateError::CapacityExceeded)?;
                    if let Some(d) = self.disks.get_mut(pos) {
                        d.slot = DiskSlot::Table(idx as u8);
                    }
                    idx as u32
                }
                _ => return Err(UpdateError::NotApplicable("disk unusable")),
            };
            if let Some(e) = self.entry_mut(new_index) {
                e.status
                    .set((e.status.get() | DISK_CONFIGURED) & !DISK_SPARE);
            }
            let to_state = self.check_degraded(v, failed, false)?;
            if n == 0 {
                if let Some(vol) = self.mpb.volumes.get_mut(v) {
                    vol.map0.raw.map_state = map_state::DEGRADED;
                }
                self.migrate(v, to_state, super::model::MigrType::Rebuild)?;
            } else if let Some(vol) = self.mpb.volumes.get_mut(v) {
                vol.map0.raw.map_state = to_state;
            }
            let vol = self
                .mpb
                .volumes
                .get_mut(v)
                .ok_or(UpdateError::NotApplicable("volume"))?;
            if let Some(o) = vol.map0.ords.get_mut(slot) {
                *o = new_index;
            }
            if let Some(o) = vol.map1.as_mut().and_then(|m| m.ords.get_mut(slot)) {
                *o = new_index | ORD_REBUILD;
            }
            let h = &mut self.mpb.header;
            if h.orig_family_num.get() == 0 {
                h.orig_family_num.set(h.family_num.get());
            }
            h.family_num
                .set(h.family_num.get().wrapping_add(self.random));
            // Drop the victim's entry unless an active array still uses it.
            let still_used = active.iter().any(|&a| {
                self.mpb
                    .volumes
                    .get(a)
                    .is_some_and(|vol| vol.map0.slot_of(victim).is_some())
            });
            if !still_used && victim != new_index {
                self.delete_disk(victim);
            }
            self.touch();
        }
        Ok(())
    }

    fn create_array(
        &mut self,
        dev_idx: u32,
        mut volume: Volume,
        serials: &[[u8; 16]],
    ) -> Result<(), UpdateError> {
        if dev_idx as usize != self.mpb.volumes.len() {
            return Err(UpdateError::NotApplicable("dev_idx"));
        }
        if serials.len() != volume.map0.num_members() {
            return Err(UpdateError::BadVolume);
        }
        let start = volume.map0.raw.pba_of_lba0();
        let end = start.saturating_add(volume.map0.per_dev_array_size());
        for existing in self.mpb.volumes.iter() {
            let shares = existing.map0.ords.iter().any(|&o| {
                self.entry(o & ORD_INDEX_MASK)
                    .is_some_and(|e| serials.iter().any(|s| serial_eq(&e.serial, s)))
            });
            let s = existing.map0.raw.pba_of_lba0();
            let e = s.saturating_add(existing.map0.per_dev_array_size());
            // Upstream treats touching ranges (ends inclusive) as overlapping.
            let overlaps = (start >= s && start <= e) || (s >= start && s <= end);
            if shares && overlaps {
                return Err(UpdateError::NotApplicable("overlaps an existing volume"));
            }
        }
        // Resolve members first so a refusal leaves the container untouched.
        let mut positions: Vec<usize, MAX_MEMBERS> = Vec::new();
        for s in serials {
            let pos = self
                .disks
                .iter()
                .position(|d| {
                    serial_eq(&d.serial, s)
                        && matches!(d.slot, DiskSlot::Table(_) | DiskSlot::Spare)
                })
                .ok_or(UpdateError::NotApplicable("member not present"))?;
            let _ = positions.push(pos);
        }
        let spares = positions
            .iter()
            .filter(|&&p| self.disks.get(p).is_some_and(|d| d.slot == DiskSlot::Spare))
            .count();
        if self.mpb.disks.len() + spares > MAX_DISKS || self.mpb.volumes.is_full() {
            return Err(UpdateError::CapacityExceeded);
        }
        for (slot, &pos) in positions.iter().enumerate() {
            let idx = match self.disks.get(pos).map(|d| d.slot) {
                Some(DiskSlot::Table(i)) => u32::from(i),
                _ => {
                    let mut entry = self
                        .disks
                        .get(pos)
                        .map(|d| d.entry)
                        .ok_or(UpdateError::BadVolume)?;
                    entry
                        .status
                        .set((entry.status.get() | DISK_CONFIGURED) & !DISK_SPARE);
                    let idx = self.mpb.disks.len();
                    self.mpb
                        .disks
                        .push(entry)
                        .map_err(|_| UpdateError::CapacityExceeded)?;
                    if let Some(d) = self.disks.get_mut(pos) {
                        d.slot = DiskSlot::Table(idx as u8);
                    }
                    idx as u32
                }
            };
            if let Some(o) = volume.map0.ords.get_mut(slot) {
                *o = idx;
            }
        }
        self.mpb
            .volumes
            .push(volume)
            .map_err(|_| UpdateError::CapacityExceeded)?;
        self.update_version_info();
        self.touch();
        Ok(())
    }

    fn reshape_container_disks(
        &mut self,
        old: u32,
        new: u32,
        new_disks: &[u32],
    ) -> Result<(), UpdateError> {
        if new as usize > MAX_MEMBERS {
            return Err(UpdateError::CapacityExceeded);
        }
        let vi = 0usize;
        let vol = self
            .mpb
            .volumes
            .get(vi)
            .ok_or(UpdateError::NotApplicable("no volume"))?;
        if vol.is_migrating() || vol.map0.num_members() != old as usize {
            return Err(UpdateError::NotApplicable("member count"));
        }
        // Resolve every disk, and the table index each will have, before changing anything:
        // a refusal after a spare's entry was appended left a table entry for a disk that
        // stayed a spare (and got a spare-only MPB), so the next load's vote gave the
        // container to that spare and dropped the volumes.
        let mut positions: Vec<usize, MAX_MEMBERS> = Vec::new();
        let mut appended = self.mpb.disks.len();
        for (i, &devt) in new_disks.iter().enumerate() {
            let dev = decode_dev_t(devt);
            let pos = self
                .disks
                .iter()
                .position(|d| d.dev == dev && !d.detached)
                .ok_or(UpdateError::NotApplicable("new disk not present"))?;
            if positions.contains(&pos) {
                return Err(UpdateError::NotApplicable("new disk listed twice"));
            }
            let idx = match self.disks.get(pos).map(|d| d.slot) {
                Some(DiskSlot::Spare) => {
                    appended += 1;
                    appended - 1
                }
                Some(DiskSlot::Table(t)) if u32::from(t) >= old => usize::from(t),
                _ => return Err(UpdateError::NotApplicable("new disk already a member")),
            };
            if idx != old as usize + i {
                // Upstream assumes table index == slot; refuse layouts where it does not hold.
                return Err(UpdateError::NotApplicable("table index differs from slot"));
            }
            if appended > MAX_DISKS {
                return Err(UpdateError::CapacityExceeded);
            }
            let _ = positions.push(pos);
        }
        for (i, &pos) in positions.iter().enumerate() {
            let want = old as usize + i;
            let slot = self.disks.get(pos).map(|d| d.slot);
            let idx = match slot {
                Some(DiskSlot::Table(t)) => usize::from(t),
                _ => {
                    let entry = self
                        .disks
                        .get(pos)
                        .map(|d| d.entry)
                        .ok_or(UpdateError::BadVolume)?;
                    self.mpb
                        .disks
                        .push(entry)
                        .map_err(|_| UpdateError::CapacityExceeded)?;
                    self.mpb.disks.len() - 1
                }
            };
            if idx != want {
                // Checked above; kept so a disagreement can never bind a wrong entry.
                return Err(UpdateError::NotApplicable("table index differs from slot"));
            }
            if let Some(d) = self.disks.get_mut(pos) {
                d.slot = DiskSlot::Table(idx as u8);
            }
            if let Some(e) = self.mpb.disks.get_mut(idx) {
                e.status
                    .set((e.status.get() | DISK_CONFIGURED) & !DISK_SPARE);
            }
        }
        let vol = self
            .mpb
            .volumes
            .get_mut(vi)
            .ok_or(UpdateError::NotApplicable("no volume"))?;
        vol.map1 = Some(vol.map0.clone());
        vol.dev.migr_state = 1;
        vol.dev.migr_type = migr_type::GEN_MIGR;
        vol.dev.set_curr_migr_unit(0);
        for i in old..new {
            vol.map0
                .ords
                .push(i)
                .map_err(|_| UpdateError::CapacityExceeded)?;
        }
        vol.map0.raw.num_members = new as u8;
        set_array_size(vol);
        self.migr_rec = zerocopy::FromZeros::new_zeroed();
        self.touch();
        Ok(())
    }

    fn reshape_migration(
        &mut self,
        r: &ReshapeMigration,
        chosen: Option<MemberId>,
    ) -> Result<(), UpdateError> {
        let v = r.subdev as usize;
        let vol = self
            .mpb
            .volumes
            .get(v)
            .ok_or(UpdateError::NotApplicable("subdev"))?;
        if vol.map1.is_some() {
            return Err(UpdateError::NotApplicable("already migrating"));
        }
        let zero_to_five = vol.map0.level() == 0 && r.new_level == 5;
        // Everything that can refuse the update is checked before the model changes: a
        // refused update must leave nothing behind for the next write to store (a 0->5
        // without its disk used to leave an ord naming a table entry that does not exist,
        // and the container, once written, no longer loaded).
        let level = match r.new_level {
            l if l >= 0 => Some(u8::try_from(l).map_err(|_| UpdateError::BadField("new_level"))?),
            _ => None,
        };
        let strip = match r.new_chunksize {
            c if c > 0 => Some(
                u16::try_from(c.saturating_mul(2))
                    .map_err(|_| UpdateError::BadField("new_chunksize"))?,
            ),
            _ => None,
        };
        let chosen_pos = chosen.and_then(|m| self.disks.iter().position(|d| d.member == m));
        if zero_to_five && chosen_pos.is_none() {
            return Err(UpdateError::NotApplicable("no disk for 0->5"));
        }
        let mut to_state = vol.map0.state();
        if zero_to_five {
            to_state = map_state::NORMAL;
        }
        self.migrate(v, to_state, super::model::MigrType::GeneralMigration)?;
        let new_index = if zero_to_five {
            match chosen_pos {
                Some(pos) => {
                    let entry = self
                        .disks
                        .get(pos)
                        .map(|d| d.entry)
                        .ok_or(UpdateError::BadVolume)?;
                    let idx = self.mpb.disks.len();
                    self.mpb
                        .disks
                        .push(entry)
                        .map_err(|_| UpdateError::CapacityExceeded)?;
                    if let Some(d) = self.disks.get_mut(pos) {
                        d.slot = DiskSlot::Table(idx as u8);
                    }
                    if let Some(e) = self.mpb.disks.get_mut(idx) {
                        e.status
                            .set((e.status.get() | DISK_CONFIGURED) & !DISK_SPARE);
                    }
                    Some(idx as u32)
                }
                None => None,
            }
        } else {
            None
        };
        let vol = self
            .mpb
            .volumes
            .get_mut(v)
            .ok_or(UpdateError::NotApplicable("subdev"))?;
        if zero_to_five {
            let slot = vol.map0.num_members();
            let ord = match new_index {
                Some(i) => i,
                None => slot as u32 | ORD_REBUILD,
            };
            vol.map0
                .ords
                .push(ord)
                .map_err(|_| UpdateError::CapacityExceeded)?;
            vol.map0.raw.num_members = vol.map0.ords.len() as u8;
            if new_index.is_none() {
                vol.map0.raw.failed_disk_num = slot as u8;
            }
        }
        if let Some(level) = level {
            set_raw_level(&mut vol.map0, level);
        }
        if let Some(strip) = strip {
            vol.map0.raw.blocks_per_strip.set(strip);
            let size = vol.dev.size();
            recompute_stripes(&mut vol.map0, size);
        }
        let bpm = vol.map0.per_dev_array_size().saturating_add(2048);
        vol.map0.raw.set_blocks_per_member(bpm);
        set_array_size(vol);
        self.touch();
        Ok(())
    }

    fn takeover(&mut self, v: usize, to_raid10: bool) -> Result<(), UpdateError> {
        let vol = self
            .mpb
            .volumes
            .get(v)
            .ok_or(UpdateError::NotApplicable("subarray"))?;
        if vol.is_migrating() {
            return Err(UpdateError::NotApplicable("migrating"));
        }
        if to_raid10 {
            if vol.map0.level() != 0 {
                return Err(UpdateError::NotApplicable("not RAID0"));
            }
            self.takeover_0_to_10(v)
        } else {
            // Upstream's RAID10 -> RAID0 takes any mirrored map: mdadm 4.2 sends it for a
            // 2-disk RAID1 too (raw level 1 either way; docs/imsm.md, "Metadata updates").
            if !matches!(vol.map0.level(), 1 | 10) {
                return Err(UpdateError::NotApplicable("not RAID1 or RAID10"));
            }
            self.takeover_10_to_0(v)
        }
    }

    fn takeover_10_to_0(&mut self, v: usize) -> Result<(), UpdateError> {
        let n = self
            .mpb
            .volumes
            .get(v)
            .map_or(0, |vol| vol.map0.num_members());
        if self.count_failed(v, WhichMap::Map0)? != n / 2 {
            return Err(UpdateError::NotApplicable(
                "RAID10->0 needs exactly one failed disk per mirror",
            ));
        }
        // Survivors: the healthy disk of each mirror pair, in pair order.
        let vol = self
            .mpb
            .volumes
            .get(v)
            .ok_or(UpdateError::NotApplicable("subarray"))?;
        let mut survivors: Vec<u32, MAX_MEMBERS> = Vec::new();
        let mut victims: Vec<u32, MAX_MEMBERS> = Vec::new();
        for pair in vol.map0.ords.chunks(2) {
            let mut kept = false;
            for &o in pair {
                let idx = o & ORD_INDEX_MASK;
                let healthy = o & ORD_REBUILD == 0
                    && self.disk_by_index(idx).is_some()
                    && self.entry(idx).is_some_and(|e| !e.is_failed());
                if healthy && !kept {
                    let _ = survivors.push(idx);
                    kept = true;
                } else {
                    let _ = victims.push(idx);
                }
            }
            if !kept {
                return Err(UpdateError::NotApplicable("mirror without survivor"));
            }
        }
        let shared = self.mpb.volumes.len() > 1;
        // Failed present disks become spares; their entries and missing ones leave the table
        // (only when no other volume uses them).
        let mut victims_desc = victims.clone();
        crate::total::sort_small_by(&mut victims_desc, |a, b| b.cmp(a));
        for &idx in victims_desc.iter() {
            if let Some(pos) = self
                .disks
                .iter()
                .position(|d| d.slot == DiskSlot::Table(idx as u8))
            {
                let mut entry = self
                    .entry(idx)
                    .copied()
                    .unwrap_or_else(zerocopy::FromZeros::new_zeroed);
                entry.serial = self.disks.get(pos).map_or(entry.serial, |d| d.serial);
                entry.status.set(DISK_SPARE);
                if let Some(d) = self.disks.get_mut(pos) {
                    d.slot = DiskSlot::Spare;
                    d.entry = entry;
                }
            }
            if !shared {
                self.delete_disk(idx);
            }
        }
        // Survivor indexes after the deletions above.
        let mut ords: Vec<u32, MAX_MEMBERS> = Vec::new();
        for &s in survivors.iter() {
            let below = if shared {
                0
            } else {
                victims.iter().filter(|&&x| x < s).count() as u32
            };
            let _ = ords.push(s.saturating_sub(below));
        }
        let vol = self
            .mpb
            .volumes
            .get_mut(v)
            .ok_or(UpdateError::NotApplicable("subarray"))?;
        vol.map0.ords = ords;
        vol.map0.raw.num_members = (n / 2) as u8;
        vol.map0.raw.map_state = map_state::NORMAL;
        vol.map0.raw.raid_level = 0;
        vol.map0.raw.num_domains = 1;
        vol.map0.raw.failed_disk_num = NO_FAILED_DISK;
        let size = vol.dev.size();
        recompute_stripes(&mut vol.map0, size);
        self.update_version_info();
        self.touch();
        Ok(())
    }

    fn takeover_0_to_10(&mut self, v: usize) -> Result<(), UpdateError> {
        let vol = self
            .mpb
            .volumes
            .get(v)
            .ok_or(UpdateError::NotApplicable("subarray"))?;
        let n = vol.map0.num_members();
        if self.mpb.volumes.len() != 1 || self.mpb.disks.len() != n {
            return Err(UpdateError::NotApplicable(
                "R0->R10 needs a single-volume container",
            ));
        }
        if 2 * n > MAX_DISKS {
            return Err(UpdateError::CapacityExceeded);
        }
        let template = self
            .mpb
            .disks
            .first()
            .copied()
            .ok_or(UpdateError::NotApplicable("no disks"))?;
        // Present disk i moves to table index 2i; missing mirrors go to 2i+1.
        let mut table: Vec<RawDisk, MAX_DISKS> = Vec::new();
        for i in 0..n {
            let e = self
                .mpb
                .disks
                .get(i)
                .copied()
                .ok_or(UpdateError::BadVolume)?;
            let _ = table.push(e);
            let mut m = template;
            m.serial = [0; 16];
            m.serial = missing_serial(2 * i + 1);
            let _ = table.push(m);
        }
        for d in self.disks.iter_mut() {
            if let DiskSlot::Table(t) = d.slot {
                d.slot = DiskSlot::Table(t.saturating_mul(2));
            }
        }
        self.mpb.disks = table;
        let vol = self
            .mpb
            .volumes
            .get_mut(v)
            .ok_or(UpdateError::NotApplicable("subarray"))?;
        // The raw level is chosen from the pre-takeover member count.
        set_raw_level(&mut vol.map0, 10);
        let mut ords: Vec<u32, MAX_MEMBERS> = Vec::new();
        for i in 0..2 * n {
            let _ = ords.push(i as u32);
        }
        vol.map0.ords = ords;
        vol.map0.raw.num_members = (2 * n) as u8;
        vol.map0.raw.num_domains = 2;
        vol.map0.raw.map_state = map_state::DEGRADED;
        let size = vol.dev.size();
        recompute_stripes(&mut vol.map0, size);
        for i in 0..n {
            self.mark_missing(v, (2 * i + 1) as u32)?;
        }
        self.update_version_info();
        self.touch();
        Ok(())
    }

    /// `imsm_update_version_info` (volume creation and takeover only).
    pub fn update_version_info(&mut self) {
        let h = &mut self.mpb.header;
        let mut attrs = h.attributes.get() | attrib::CHECKSUM_VERIFY;
        let legacy = self.compat == Compat::Mdadm42;
        let many = self.mpb.volumes.len() > 1;
        let mut version: &[u8] = MPB_VERSION_ATTRIBS;
        for vol in self.mpb.volumes.iter() {
            if vol.dev.size_high.get() > 0 {
                attrs |= attrib::TWO_TB;
            }
            let level = vol.map0.level();
            if legacy && !many && attrs == attrib::CHECKSUM_VERIFY {
                let n = vol.map0.num_members();
                version = if n >= 5 {
                    b"1.2.04"
                } else if level == 5 {
                    b"1.2.02"
                } else if n >= 3 {
                    b"1.2.01"
                } else if level == 1 {
                    b"1.1.00"
                } else {
                    b"1.0.00"
                };
                continue;
            }
            version = MPB_VERSION_ATTRIBS;
            attrs |= match level {
                0 => attrib::RAID0,
                1 => attrib::RAID1,
                10 => attrib::RAID10,
                5 => attrib::RAID5,
                _ => 0,
            };
            if !legacy && level == 10 && vol.map0.num_members() > 4 {
                attrs |= attrib::RAID10_EXT;
            }
        }
        h.attributes.set(attrs);
        h.set_version(version);
    }
}

/// `update_imsm_raid_level` (4.6 behaviour; docs/imsm.md, "RAID level and stripe count").
pub fn set_raw_level(map: &mut Map, target: u8) {
    if target != 10 {
        map.raw.raid_level = target;
        return;
    }
    let n = map.num_members();
    map.raw.raid_level = if map.raw.raid_level == 0 {
        if n == 2 {
            1
        } else {
            10
        }
    } else if n == 4 {
        if matches!(map.raw.raid_level, 1 | 10) {
            map.raw.raid_level
        } else {
            1
        }
    } else {
        10
    };
}

/// num_data_stripes = size / data members / domains / chunk
/// (docs/imsm.md, "RAID level and stripe count").
pub fn recompute_stripes(map: &mut Map, size: u64) {
    let d = map.data_members();
    let domains = u64::from(map.raw.num_domains.max(1));
    let chunk = map.chunk();
    if d == 0 || chunk == 0 {
        return;
    }
    map.raw.set_num_data_stripes(size / d / domains / chunk);
}

/// The serial upstream's takeover gives a missing mirror,
/// `snprintf(serial, MAX_RAW_SERIAL_NUM, " MISSING_%d", idx)`: at most 15 characters, the
/// rest zero. Built by hand because the monitor applies takeovers and formatting machinery
/// has panic paths.
fn missing_serial(idx: usize) -> [u8; 16] {
    // usize has at most 20 decimal digits; fill from the right.
    let mut digits = [0u8; 20];
    let mut used = 0usize;
    let mut v = idx;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        used += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = digits
        .get(digits.len().saturating_sub(used)..)
        .unwrap_or(&[]);
    let mut serial = [0u8; 16];
    // snprintf keeps the last byte for its NUL.
    let text = b" MISSING_".iter().chain(digits.iter());
    for (dst, src) in serial.iter_mut().take(15).zip(text) {
        *dst = *src;
    }
    serial
}

impl PresentDisk {
    /// A device that just joined the container (`add_to_super_imsm`): a pristine spare whose
    /// entry carries its serial, size and SCSI address. The shell zeroes the disk's
    /// migration-record sector (LBA N-1) when it opens the device, as upstream does.
    pub fn new_spare(
        member: MemberId,
        serial: [u8; 16],
        dev: (u32, u32),
        geometry: super::model::TailGeometry,
        scsi_id: u32,
    ) -> PresentDisk {
        let mut entry: RawDisk = zerocopy::FromZeros::new_zeroed();
        entry.serial = serial;
        entry.set_total_blocks(
            geometry
                .sectors
                .saturating_mul(u64::from(geometry.lss) / 512),
        );
        entry.scsi_id.set(scsi_id);
        entry.status.set(DISK_SPARE);
        PresentDisk {
            member,
            serial,
            slot: DiskSlot::Spare,
            geometry,
            entry,
            dev,
            detached: false,
        }
    }
}

impl Container {
    /// `open_new`: check that volume `inst` exists and return the (no-op) update upstream
    /// 4.5+ queues so the monitor's buffers can grow; nothing to grow here, but the update
    /// keeps the message flow identical.
    pub fn open_new(&self, inst: usize) -> Result<PreparedUpdate, OpError> {
        if inst >= self.mpb.volumes.len() {
            return Err(OpError::NoSuchVolume(inst));
        }
        Ok(PreparedUpdate {
            update: Update::PreallocBadblocksMem,
            chosen_disk: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::missing_serial;

    #[test]
    fn missing_serial_is_upstreams_snprintf() {
        assert_eq!(&missing_serial(1), b" MISSING_1\0\0\0\0\0\0");
        assert_eq!(&missing_serial(0), b" MISSING_0\0\0\0\0\0\0");
        assert_eq!(&missing_serial(123), b" MISSING_123\0\0\0\0");
        // snprintf truncates to 15 characters plus its NUL.
        assert_eq!(&missing_serial(12_345_678), b" MISSING_123456\0");
        assert_eq!(&missing_serial(usize::MAX), b" MISSING_184467\0");
    }
}
