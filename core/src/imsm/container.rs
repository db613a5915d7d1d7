//! The container as mdmon holds it: the champion MPB, the member disks that are present
//! (bound to table entries, spares, or unusable), the migration record, and the "pending"
//! mark. Loading implements the family/generation vote (docs/imsm.md, "Loading: which copy wins");
//! syncing produces an explicit write plan (docs/imsm.md, "Writing the metadata") over one
//! caller-provided buffer.
//!
//! The disk table inside [`Mpb`] is the single source of truth for table members; a present
//! disk only records which entry it is. Missing disks are the table entries no present disk
//! is bound to. (Upstream keeps a second copy of each entry per disk and re-assembles the
//! table on every write; one copy cannot go stale.)

use heapless::Vec;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::error::{EncodeError, LoadError};
use super::layout::*;
use super::model::*;

/// Most member devices a container may have, spares included. Spares are not in the disk
/// table, so this bounds table members plus pristine spares; the kernel side of a container
/// is bounded by the same platform port counts as `MAX_DISKS`.
pub const MAX_PRESENT_DISKS: usize = MAX_DISKS;
/// A sync writes at most three pieces per disk: migration-record sector, extended MPB
/// sectors, anchor.
pub const MAX_PLANNED_WRITES: usize = 3 * MAX_PRESENT_DISKS;

/// Caller-chosen identity of a member device (the shell maps it to an fd).
pub type MemberId = u32;

/// One member disk's metadata as the caller read it.
#[derive(Debug, Clone, Copy)]
pub struct MemberCopy<'a> {
    pub member: MemberId,
    /// The last `region.len()` bytes of the disk (the last MiB is always enough).
    pub region: &'a [u8],
    /// Whole disk size in bytes.
    pub disk_bytes: u64,
    /// Logical sector size (BLKSSZGET).
    pub sector_size: u32,
    /// The disk's serial as IMSM derives it (docs/imsm.md, "Disk serials"), NUL-padded.
    pub serial: [u8; 16],
    /// Device number (major, minor); reshape updates name added disks by it.
    pub dev: (u32, u32),
}

/// How a present disk relates to the champion's disk table (upstream's `dl->index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSlot {
    /// Bound to table entry `n` (index ≥ 0).
    Table(u8),
    /// Not in the table: a spare (index -1). Receives a spare-only MPB on sync.
    Spare,
    /// Failed in the champion's table, or stale/foreign (index -2). Never written.
    Unusable,
}

/// A member device that is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentDisk {
    pub member: MemberId,
    pub serial: [u8; 16],
    pub slot: DiskSlot,
    pub geometry: TailGeometry,
    /// The disk's own entry; authoritative only for `Spare`/`Unusable` disks (table members
    /// live in the table).
    pub entry: RawDisk,
    /// Device number (major, minor).
    pub dev: (u32, u32),
    /// Removed from the container: a table member keeps its entry (and still counts as
    /// present, as upstream's fd-less `dl` does) but is no longer written.
    pub detached: bool,
}

/// Which mdadm generation to mimic where 4.2 and 4.6 write differently
/// (docs/imsm.md, "mdadm 4.2 and 4.6").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    Mdadm42,
    Mdadm46,
}

/// The whole container's metadata state.
#[derive(Debug, Clone)]
pub struct Container {
    pub mpb: Mpb,
    pub disks: Vec<PresentDisk, MAX_PRESENT_DISKS>,
    /// In-memory migration record (512-byte units), meaningful only during GEN_MIGR.
    pub migr_rec: RawMigrRecord,
    pub sector_size: u32,
    /// Set by every change; cleared by [`Container::sync_metadata`].
    pub pending: bool,
    /// Random value chosen at spare activation and added to family_num.
    pub random: u32,
    /// One-shot: the next sync zeroes the migration record although GEN_MIGR is running.
    pub clean_migr_rec_by_mdmon: bool,
    pub compat: Compat,
    /// The MPB image mdmon writes from (memory order, on-disk units). Each sync regenerates
    /// the MPB over it, so bytes past mpb_size keep what the champion's disk held.
    pub image: ImageBuf,
}

/// Fixed buffer holding one MPB image.
#[derive(Clone)]
pub struct ImageBuf(pub [u8; MPB_BUF_LEN]);

impl core::fmt::Debug for ImageBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ImageBuf({} bytes)", self.0.len())
    }
}

impl Default for ImageBuf {
    fn default() -> Self {
        ImageBuf([0; MPB_BUF_LEN])
    }
}

/// One write of a plan: `buf[buf_start..buf_start+len]` goes to byte `offset` of `member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedWrite {
    pub member: MemberId,
    pub offset: u64,
    pub buf_start: usize,
    pub len: usize,
}

/// What a sync wants written: one write per member disk. A table member's write covers its
/// whole copy as it lies on the disk (extended MPB sectors, the anchor, then the cleared
/// migration record when it is cleared), so it goes out as one request; a copy of several
/// sectors can still tear inside it, which is why the handler puts members of one volume
/// in different waves (docs/imsm.md, "Torn writes").
#[derive(Debug, Clone, Default)]
pub struct WritePlan {
    pub writes: Vec<PlannedWrite, MAX_PLANNED_WRITES>,
    /// The MPB spans several sectors: a member's copy can be torn by a cut.
    pub multi_sector: bool,
    /// generation_num the written MPB carries.
    pub generation: u32,
}

/// Buffer length `sync_metadata` needs for sector size `lss`: room for the largest MPB's
/// extended sectors, its anchor, a zero sector (the cleared migration record), in disk
/// order, and one sector per possible spare.
pub const fn sync_buffer_len(lss: usize) -> usize {
    MPB_BUF_LEN + 2 * lss + MAX_PRESENT_DISKS * lss
}

/// What the vote needs to know about one member's copy. The full MPB is re-parsed from the
/// caller's bytes when a table is needed: holding up to `MAX_PRESENT_DISKS` decoded MPBs at
/// once would put ~0.6 MiB on the stack.
struct Loaded {
    member: MemberId,
    dev: (u32, u32),
    family: u32,
    generation: u32,
    check_sum: u32,
    has_volumes: bool,
    attributes: u32,
    own: RawDisk,
    own_slot: DiskSlot,
    serial: [u8; 16],
    geometry: TailGeometry,
}

/// Merged knowledge about one serial across all copies (`struct intel_disk`).
#[derive(Clone, Copy)]
struct MergedDisk {
    serial: [u8; 16],
    status: u32,
    owner: Option<usize>,
}

/// Bind a disk to an MPB's table by serial (`load_and_parse_mpb` step "bind own disk").
fn bind(mpb: &Mpb, serial: &[u8; 16]) -> (DiskSlot, RawDisk) {
    match mpb.find_disk(serial) {
        Some(i) => {
            let entry = mpb.disks.get(i).copied().unwrap_or_else(zero_disk);
            let slot = if entry.is_failed() {
                DiskSlot::Unusable
            } else if entry.is_spare() || entry.is_journal() {
                DiskSlot::Spare
            } else {
                DiskSlot::Table(i as u8)
            };
            (slot, entry)
        }
        None => (DiskSlot::Unusable, zero_disk()),
    }
}

fn zero_disk() -> RawDisk {
    RawDisk::new_zeroed()
}

impl Container {
    /// Parse every member's copy and keep the one mdadm would keep
    /// (docs/imsm.md, "Loading: which copy wins").
    pub fn load(members: &[MemberCopy<'_>], compat: Compat) -> Result<Container, LoadError> {
        if members.is_empty() {
            return Err(LoadError::NoMembers);
        }
        if members.len() > MAX_PRESENT_DISKS {
            return Err(LoadError::TooManyMembers);
        }
        let sector_size = members.first().map_or(512, |m| m.sector_size);
        let mut loaded: Vec<Loaded, MAX_PRESENT_DISKS> = Vec::new();
        let mut buf = [0u8; MPB_BUF_LEN];
        for (i, m) in members.iter().enumerate() {
            if m.sector_size != sector_size {
                return Err(LoadError::MixedSectorSizes);
            }
            let err = |error| LoadError::Member { member: i, error };
            let geometry = TailGeometry::new(m.disk_bytes, m.sector_size).map_err(err)?;
            let n = gather_mpb(m.region, m.disk_bytes, m.sector_size, &mut buf).map_err(err)?;
            let mpb = Mpb::parse(buf.get(..n).unwrap_or(&[]), m.sector_size).map_err(err)?;
            let (own_slot, own) = bind(&mpb, &m.serial);
            let h = &mpb.header;
            let _ = loaded.push(Loaded {
                member: m.member,
                dev: m.dev,
                family: h.family_num.get(),
                generation: h.generation_num.get(),
                check_sum: h.check_sum.get(),
                has_volumes: !mpb.volumes.is_empty(),
                attributes: h.attributes.get(),
                own,
                own_slot,
                serial: m.serial,
                geometry,
            });
        }
        let champion = thunderdome(&mut loaded, members)?;

        let mut two_tb_disk = 0;
        for l in loaded.iter() {
            two_tb_disk |= l.attributes & attrib::TWO_TB_DISK;
        }
        let mut mpb = reparse(members, champion).ok_or(LoadError::NoChampion)?;
        mpb.header
            .attributes
            .set(mpb.header.attributes.get() | two_tb_disk);

        let mut disks: Vec<PresentDisk, MAX_PRESENT_DISKS> = Vec::new();
        for (i, l) in loaded.iter().enumerate() {
            let (slot, entry) = if i == champion {
                (l.own_slot, l.own)
            } else {
                match mpb.find_disk(&l.serial) {
                    Some(idx) => {
                        let entry = mpb.disks.get(idx).copied().unwrap_or_else(zero_disk);
                        let slot = if entry.is_failed() {
                            DiskSlot::Unusable
                        } else if entry.is_spare() {
                            DiskSlot::Spare
                        } else {
                            DiskSlot::Table(idx as u8)
                        };
                        (slot, entry)
                    }
                    None => {
                        // Not in the champion's table: usable only as a clean spare
                        // according to everything the copies say about it.
                        let merged = merged_status(members, &l.serial);
                        if merged & DISK_SPARE != 0 && merged & (DISK_FAILED | DISK_CONFIGURED) == 0
                        {
                            (DiskSlot::Spare, l.own)
                        } else {
                            // Upstream drops such disks from the container view entirely.
                            continue;
                        }
                    }
                }
            };
            let _ = disks.push(PresentDisk {
                member: l.member,
                serial: l.serial,
                slot,
                geometry: l.geometry,
                entry,
                dev: l.dev,
                detached: false,
            });
        }

        let mut image = ImageBuf::default();
        if let Some(m) = members.get(champion) {
            // Cannot fail: the same bytes were gathered and parsed above.
            let _ = gather_mpb(m.region, m.disk_bytes, m.sector_size, &mut image.0);
        }
        let mut c = Container {
            mpb,
            disks,
            migr_rec: RawMigrRecord::new_zeroed(),
            sector_size,
            pending: false,
            random: 0,
            clean_migr_rec_by_mdmon: false,
            compat,
            image,
        };
        c.load_migr_rec(members)?;
        Ok(c)
    }

    /// Read the migration record when a volume is in general migration
    /// (docs/imsm.md, "Migration record").
    fn load_migr_rec(&mut self, members: &[MemberCopy<'_>]) -> Result<(), LoadError> {
        let Some(vol) = self.mpb.volumes.iter().find(|v| v.is_gen_migration()) else {
            return Ok(());
        };
        if let Some(m1) = vol.map1.as_ref() {
            if m1.raw.pba_of_lba0() != vol.map0.raw.pba_of_lba0() {
                return Err(LoadError::UnsupportedMigration);
            }
        }
        let mut found = None;
        for d in self.disks.iter() {
            let DiskSlot::Table(idx) = d.slot else {
                continue;
            };
            match vol.map0.slot_of(u32::from(idx)) {
                Some(0) | Some(1) => {}
                _ => continue,
            }
            let Some(copy) = members.iter().find(|m| m.member == d.member) else {
                continue;
            };
            let off = d.geometry.migr_record_offset();
            let start = copy.disk_bytes.saturating_sub(copy.region.len() as u64);
            let Some(local) = off.checked_sub(start).and_then(|o| usize::try_from(o).ok()) else {
                continue;
            };
            let Some(bytes) = copy
                .region
                .get(local..local.saturating_add(MIGR_RECORD_LEN))
            else {
                continue;
            };
            if let Ok(rec) = RawMigrRecord::read_from_bytes(bytes) {
                found = Some(rec);
                break;
            }
        }
        let mut rec = found.ok_or(LoadError::MigrationRecordUnavailable)?;
        if rec.ascending_migr.get() == 0 && rec.dest_depth_per_unit.get() > 0 {
            return Err(LoadError::UnsupportedMigration);
        }
        if self.sector_size == 4096 {
            migr_rec_from_4k(&mut rec).ok_or(LoadError::UnsupportedMigration)?;
        }
        self.migr_rec = rec;
        Ok(())
    }

    /// Present disk bound to table index `idx`.
    pub fn disk_by_index(&self, idx: u32) -> Option<&PresentDisk> {
        self.disks
            .iter()
            .find(|d| matches!(d.slot, DiskSlot::Table(i) if u32::from(i) == idx))
    }

    /// Table entry `idx`.
    pub fn entry(&self, idx: u32) -> Option<&RawDisk> {
        self.mpb.disks.get(idx as usize)
    }

    pub fn entry_mut(&mut self, idx: u32) -> Option<&mut RawDisk> {
        self.mpb.disks.get_mut(idx as usize)
    }

    /// Table entries no present disk is bound to (upstream's `missing` list).
    pub fn missing_indexes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.mpb.disks.len() as u32).filter(move |&i| self.disk_by_index(i).is_none())
    }

    /// Serialise and plan the writes of `sync_metadata` (docs/imsm.md, "Writing the metadata")
    /// when something is pending; `None` when nothing is. `buf` must be
    /// `sync_buffer_len(sector_size)` bytes (aligned as O_DIRECT requires; plan ranges are
    /// whole sectors from its start).
    pub fn sync_metadata(&mut self, buf: &mut [u8]) -> Result<Option<WritePlan>, EncodeError> {
        if !self.pending {
            return Ok(None);
        }
        let lss = self.sector_size as usize;
        let needed = sync_buffer_len(lss);
        if buf.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        self.pending = false;
        let h = &mut self.mpb.header;
        h.generation_num.set(h.generation_num.get().wrapping_add(1));
        if h.orig_family_num.get() == 0 {
            h.orig_family_num.set(h.family_num.get());
        }
        let clear_migr =
            !self.mpb.volumes.iter().any(Volume::is_gen_migration) || self.clean_migr_rec_by_mdmon;
        self.clean_migr_rec_by_mdmon = false;
        if clear_migr {
            self.migr_rec = RawMigrRecord::new_zeroed();
        }

        // The buffer, in disk order: [.. extended sectors][anchor][zero sector][spares].
        // The extended sectors end where the anchor starts, so a member's copy (and the
        // cleared record after it, LBA N-1) is one contiguous write.
        let (ext_area, rest) = buf.split_at_mut(MPB_BUF_LEN);
        let (anchor, rest) = rest.split_at_mut(lss);
        let (zero, spares) = rest.split_at_mut(lss);
        zero.fill(0);
        let total = self.mpb.encode_over(self.sector_size, &mut self.image.0)?;
        let image = self.image.0.get(..total).unwrap_or(&[]);
        let ext_len = total.saturating_sub(lss);
        let ext_start = MPB_BUF_LEN
            .checked_sub(ext_len)
            .ok_or(EncodeError::BufferTooSmall { needed })?;
        let ext_dst = ext_area
            .get_mut(ext_start..)
            .ok_or(EncodeError::BufferTooSmall { needed })?;
        if !crate::total::copy_exact(anchor, image.get(..lss).unwrap_or(&[]))
            || !crate::total::copy_exact(ext_dst, image.get(lss..).unwrap_or(&[]))
        {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        // encode_over refuses sector sizes other than 512/4096, so lss is never 0; the
        // checked form keeps the division's panic path out of the monitor.
        let k = ext_len
            .checked_div(lss)
            .ok_or(EncodeError::BadSectorSize(self.sector_size))? as u64;
        // The record is only cleared when the new MPB has no migration (above), so a write
        // torn after the MPB and before the record leaves an MPB that does not read it.
        let copy_len = ext_len + lss + if clear_migr { lss } else { 0 };

        let mut plan = WritePlan {
            writes: Vec::new(),
            multi_sector: k > 0,
            generation: self.mpb.header.generation_num.get(),
        };
        let mut spare_at = 0usize;
        for d in self.disks.iter().filter(|d| !d.detached) {
            match d.slot {
                DiskSlot::Table(i) => {
                    if self
                        .mpb
                        .disks
                        .get(usize::from(i))
                        .is_none_or(RawDisk::is_failed)
                    {
                        continue;
                    }
                    let off = d.geometry.extended_offset(k).ok_or(EncodeError::TooLarge)?;
                    push(&mut plan, d.member, off, ext_start, copy_len)?;
                }
                DiskSlot::Spare => {
                    let dst = spares
                        .get_mut(spare_at..spare_at + lss)
                        .ok_or(EncodeError::BufferTooSmall { needed })?;
                    encode_spare(&d.entry, self.compat, self.mpb.header.cache_size.get(), dst)?;
                    push(
                        &mut plan,
                        d.member,
                        d.geometry.anchor_offset(),
                        MPB_BUF_LEN + 2 * lss + spare_at,
                        lss,
                    )?;
                    spare_at += lss;
                }
                DiskSlot::Unusable => {}
            }
        }
        Ok(Some(plan))
    }

    /// Mark the in-memory state changed (the next sync writes).
    pub fn touch(&mut self) {
        self.pending = true;
    }
}

fn push(
    plan: &mut WritePlan,
    member: MemberId,
    offset: u64,
    buf_start: usize,
    len: usize,
) -> Result<(), EncodeError> {
    plan.writes
        .push(PlannedWrite {
            member,
            offset,
            buf_start,
            len,
        })
        .map_err(|_| EncodeError::TooLarge)
}

/// Spare-only MPB for a disk not in the table (docs/imsm.md, "Spare-only records") into one
/// sector `out`.
pub fn encode_spare(
    entry: &RawDisk,
    compat: Compat,
    cache_size: u32,
    out: &mut [u8],
) -> Result<(), EncodeError> {
    out.fill(0);
    let dst = out
        .get_mut(..SPARE_MPB_SIZE)
        .ok_or(EncodeError::BufferTooSmall {
            needed: SPARE_MPB_SIZE,
        })?;
    let mut h = RawSuper::new_zeroed();
    let mut attributes = 0;
    match compat {
        Compat::Mdadm42 => {
            h.set_version(MPB_VERSION_SPARE_42);
            attributes |= attrib::CHECKSUM_VERIFY;
            h.cache_size.set(cache_size);
        }
        Compat::Mdadm46 => h.set_version(MPB_VERSION_ATTRIBS),
    }
    if entry.total_blocks_hi.get() > 0 {
        attributes |= attrib::TWO_TB_DISK;
    }
    h.attributes.set(attributes);
    h.mpb_size.set(SPARE_MPB_SIZE as u32);
    h.generation_num.set(1);
    h.num_disks = 1;
    h.pwr_cycle_count.set(1);
    let mut disk = *entry;
    disk.status.set(DISK_SPARE);
    let (hdr, d) = dst.split_at_mut(SUPER_LEN);
    hdr.copy_from_slice(h.as_bytes());
    d.copy_from_slice(disk.as_bytes());
    let family = checksum(dst);
    if let Some(f) = dst.get_mut(40..44) {
        f.copy_from_slice(&family.to_le_bytes());
    }
    let sum = checksum(dst);
    if let Some(f) = dst.get_mut(32..36) {
        f.copy_from_slice(&sum.to_le_bytes());
    }
    Ok(())
}

fn migr_rec_from_4k(rec: &mut RawMigrRecord) -> Option<()> {
    rec.blocks_per_unit
        .set(rec.blocks_per_unit.get().checked_mul(8)?);
    rec.dest_depth_per_unit
        .set(rec.dest_depth_per_unit.get().checked_mul(8)?);
    rec.set_post_migr_vol_cap(rec.post_migr_vol_cap().checked_mul(8)?);
    rec.set_ckpt_area_pba(rec.ckpt_area_pba().checked_mul(8)?);
    rec.set_dest_1st_member_lba(rec.dest_1st_member_lba().checked_mul(8)?);
    Some(())
}

/// Parse member `i`'s copy again (it parsed once already, so this cannot fail in practice).
fn reparse(members: &[MemberCopy<'_>], i: usize) -> Option<Mpb> {
    let m = members.get(i)?;
    let mut buf = [0u8; MPB_BUF_LEN];
    let n = gather_mpb(m.region, m.disk_bytes, m.sector_size, &mut buf).ok()?;
    Mpb::parse(buf.get(..n)?, m.sector_size).ok()
}

fn merged_status(members: &[MemberCopy<'_>], serial: &[u8; 16]) -> u32 {
    let mut merged = MergedList::default();
    for (i, m) in members.iter().enumerate() {
        if let Some(mpb) = reparse(members, i) {
            merged.merge_table(&mpb, None, &m.serial);
        }
    }
    merged.get(serial).map_or(0, |d| d.status)
}

#[derive(Default)]
struct MergedList {
    disks: Vec<MergedDisk, { MAX_DISKS * 2 }>,
}

impl MergedList {
    fn get(&self, serial: &[u8; 16]) -> Option<&MergedDisk> {
        self.disks.iter().find(|d| serial_eq(&d.serial, serial))
    }
    fn get_mut(&mut self, serial: &[u8; 16]) -> Option<&mut MergedDisk> {
        self.disks.iter_mut().find(|d| serial_eq(&d.serial, serial))
    }
    /// Merge `mpb`'s table; entries whose serial is `own` become owned by `owner`.
    fn merge_table(&mut self, mpb: &Mpb, owner: Option<usize>, own: &[u8; 16]) {
        for d in mpb.disks.iter() {
            match self.get_mut(&d.serial) {
                Some(m) => {
                    m.status |= d.status();
                    if m.status & (DISK_CONFIGURED | DISK_FAILED) != 0 {
                        m.status &= !DISK_SPARE;
                    }
                }
                None => {
                    // Full list: the entry is simply not merged (cannot happen within the
                    // capacities: at most MAX_PRESENT_DISKS tables of MAX_DISKS entries
                    // with mostly shared serials). Ownership below then stays unknown.
                    let _ = self.disks.push(MergedDisk {
                        serial: d.serial,
                        status: d.status(),
                        owner: None,
                    });
                }
            }
            if serial_eq(&d.serial, own) {
                if let (Some(m), Some(o)) = (self.get_mut(&d.serial), owner) {
                    m.owner = Some(o);
                }
            }
        }
    }
}

/// The family/generation vote (`imsm_thunderdome`). Returns the position in `loaded` of the
/// champion.
fn thunderdome(loaded: &mut [Loaded], members: &[MemberCopy<'_>]) -> Result<usize, LoadError> {
    // Candidate table: positions into `loaded`.
    let mut table: Vec<usize, MAX_PRESENT_DISKS> = Vec::new();
    let mut merged = MergedList::default();
    for cur in 0..loaded.len() {
        let Some(this) = loaded.get(cur) else { break };
        let family = this.family;
        let own_configured = this.own.is_configured();
        let mut replace_at = None;
        let mut loses_to = None;
        for (ti, &cand) in table.iter().enumerate() {
            let Some(c) = loaded.get(cand) else { continue };
            if c.family != family {
                continue;
            }
            if c.check_sum == this.check_sum {
                replace_at = Some(ti);
                break;
            }
            let c_configured = c.own.is_configured();
            if (own_configured || own_configured == c_configured) && c.generation < this.generation
            {
                // Carry the candidate's own failure over from the merged knowledge.
                let failed = merged
                    .get(&c.own.serial)
                    .is_some_and(|m| m.status & DISK_FAILED != 0);
                if failed {
                    if let Some(c) = loaded.get_mut(cand) {
                        c.own.status.set(c.own.status.get() | DISK_FAILED);
                    }
                }
                replace_at = Some(ti);
            } else {
                loses_to = Some(ti);
            }
            break;
        }
        if let Some(ti) = loses_to {
            let own_table = reparse(members, cur);
            let Some(this) = loaded.get_mut(cur) else {
                break;
            };
            let own_in_own = own_table
                .as_ref()
                .and_then(|t| t.find_disk(&this.own.serial).and_then(|i| t.disks.get(i)))
                .copied();
            if own_in_own.is_some_and(|d| d.is_failed()) {
                this.own.status.set(this.own.status.get() | DISK_FAILED);
            }
            if let Some(m) = merged.get_mut(&this.own.serial) {
                m.owner = Some(ti);
                if own_in_own.is_some_and(|d| d.is_configured()) {
                    m.status |= DISK_CONFIGURED;
                }
            }
            continue;
        }
        let ti = match replace_at {
            Some(ti) => {
                if let Some(slot) = table.get_mut(ti) {
                    *slot = cur;
                }
                ti
            }
            None => {
                table.push(cur).map_err(|_| LoadError::TooManyMembers)?;
                table.len() - 1
            }
        };
        if let (Some(this), Some(cur_table)) = (loaded.get(cur), reparse(members, cur)) {
            merged.merge_table(&cur_table, Some(ti), &this.own.serial);
        }
    }

    // A candidate survives if its own disk is owned by it and every entry of its table is
    // owned by it or by nobody.
    let mut champion = None;
    let mut spare = None;
    for (ti, &cand) in table.iter().enumerate() {
        let Some(c) = loaded.get(cand) else { continue };
        let Some(cand_table) = reparse(members, cand) else {
            continue;
        };
        let own_ok = merged
            .get(&c.own.serial)
            .is_some_and(|m| m.owner == Some(ti));
        let members_ok = cand_table
            .disks
            .iter()
            .all(|d| match merged.get(&d.serial) {
                Some(m) => m.owner.is_none() || m.owner == Some(ti),
                None => false,
            });
        if !(own_ok && members_ok) {
            continue;
        }
        if !c.has_volumes {
            spare = Some(cand);
        } else if champion.is_none() {
            champion = Some(cand);
        }
    }
    champion.or(spare).ok_or(LoadError::NoChampion)
}
