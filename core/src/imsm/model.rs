//! The decoded MPB: header, disk table, volumes (with both maps while migrating) and the BBM
//! log, in fixed-capacity collections. Values are held in 512-byte sectors whatever the disk's
//! sector size (docs/imsm.md, "4K-sector disks"); `parse` and `encode` do the 4K conversion.
//!
//! `parse` is total: any byte string yields either a model or a [`ParseError`]. `encode` of
//! an unchanged model reproduces the bytes mdadm wrote (fixture round-trip tests prove it).

use heapless::Vec;
use zerocopy::{FromBytes, IntoBytes};

use super::error::{BbmFault, EncodeError, ParseError};
use super::layout::*;
use super::view::{MapView, MpbView};

/// Most disk-table entries we hold. The on-disk counter is a u8 (255), but Intel platforms
/// report at most a few dozen ports per controller (OROM `tds`); 64 leaves headroom for
/// failed/missing placeholders while keeping the table at 3 KiB. Larger tables are refused
/// with `TooManyDisks`, never truncated.
pub const MAX_DISKS: usize = 64;
/// Most volumes per container. Every known OROM allows 2 volumes per array (`vpa`) and at
/// most 4 per controller; the model keeps 4 so a container at the controller limit still loads.
pub const MAX_VOLUMES: usize = 4;
/// Most members in one map. A slot refers to a distinct disk-table entry, so a map cannot
/// usefully hold more members than the table holds disks.
pub const MAX_MEMBERS: usize = MAX_DISKS;
/// Entries of the BBM log: the format's own limit (docs/imsm.md, "Bad-block log").
pub const MAX_BBM_ENTRIES: usize = BBM_LOG_MAX_ENTRIES;
/// Largest MPB the capacities above can describe: header, full disk table, every volume
/// migrating with full-width maps, full BBM log.
pub const MAX_MPB_BYTES: usize = SUPER_LEN
    + DISK_LEN * MAX_DISKS
    + MAX_VOLUMES * (DEV_LEN + 2 * (MAP_HEADER_LEN + ORD_LEN * MAX_MEMBERS))
    + BBM_HEADER_LEN
    + BBM_ENTRY_LEN * MAX_BBM_ENTRIES;
/// Buffer length that holds `MAX_MPB_BYTES` rounded up to whole 4096-byte sectors (so it also
/// holds it in 512-byte sectors).
pub const MPB_BUF_LEN: usize = MAX_MPB_BYTES.div_ceil(4096) * 4096;

/// Logical sector sizes IMSM supports.
pub fn valid_sector_size(lss: u32) -> bool {
    lss == 512 || lss == 4096
}

/// One map: header plus its ord table (`ords.len() == raw.num_members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    pub raw: RawMap,
    pub ords: Vec<u32, MAX_MEMBERS>,
}

impl Map {
    pub fn num_members(&self) -> usize {
        self.ords.len()
    }
    pub fn state(&self) -> u8 {
        self.raw.map_state
    }
    /// Raw ord entry of `slot` (index plus flag bits).
    pub fn ord(&self, slot: usize) -> Option<u32> {
        self.ords.get(slot).copied()
    }
    /// Disk table index of `slot`.
    pub fn index_at(&self, slot: usize) -> Option<u32> {
        self.ord(slot).map(|o| o & ORD_INDEX_MASK)
    }
    /// Slot holding disk table index `index` (`get_imsm_disk_slot`).
    pub fn slot_of(&self, index: u32) -> Option<usize> {
        self.ords.iter().position(|&o| o & ORD_INDEX_MASK == index)
    }
    /// Logical RAID level (docs/imsm.md, "RAID level and stripe count"): raw 1 with other
    /// than 2 members is RAID10.
    pub fn level(&self) -> u8 {
        match self.raw.raid_level {
            1 if self.num_members() != 2 => 10,
            l => l,
        }
    }
    /// Members carrying data (`imsm_num_data_members`).
    pub fn data_members(&self) -> u64 {
        let n = self.num_members() as u64;
        match self.level() {
            0 => n,
            1 | 10 => n / 2,
            5 => n.saturating_sub(1),
            _ => 0,
        }
    }
    pub fn chunk(&self) -> u64 {
        u64::from(self.raw.blocks_per_strip.get())
    }
    /// `per_dev_array_size`: data sectors per member.
    pub fn per_dev_array_size(&self) -> u64 {
        let s = self.raw.num_data_stripes().saturating_mul(self.chunk());
        match self.level() {
            1 | 10 => s.saturating_mul(2),
            _ => s,
        }
    }
    fn record_len(&self) -> usize {
        MAP_HEADER_LEN + ORD_LEN * self.num_members()
    }
}

/// One volume record: fixed part, current/destination map, and source map while migrating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub dev: RawDev,
    pub map0: Map,
    /// Present iff `dev.migr_state != 0`.
    pub map1: Option<Map>,
}

impl Volume {
    pub fn is_migrating(&self) -> bool {
        self.dev.migr_state != 0
    }
    pub fn migr_type(&self) -> u8 {
        self.dev.migr_type
    }
    /// Logical migration type: REPAIR is VERIFY plus the VERIFY_AND_FIX status bit.
    pub fn logical_migr_type(&self) -> MigrType {
        match self.dev.migr_type {
            migr_type::INIT => MigrType::Init,
            migr_type::REBUILD => MigrType::Rebuild,
            migr_type::VERIFY if self.dev.status.get() & DEV_VERIFY_AND_FIX != 0 => {
                MigrType::Repair
            }
            migr_type::VERIFY => MigrType::Verify,
            migr_type::GEN_MIGR => MigrType::GeneralMigration,
            migr_type::STATE_CHANGE => MigrType::StateChange,
            other => MigrType::Unknown(other),
        }
    }
    pub fn is_gen_migration(&self) -> bool {
        self.is_migrating() && self.dev.migr_type == migr_type::GEN_MIGR
    }
    /// Map describing the previous state: map1 while migrating, else map0.
    pub fn prev_map(&self) -> &Map {
        self.map1.as_ref().unwrap_or(&self.map0)
    }
    pub fn record_len(&self) -> usize {
        DEV_LEN + self.map0.record_len() + self.map1.as_ref().map_or(0, Map::record_len)
    }
}

/// Logical migration types (docs/imsm.md, "Migrations").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrType {
    Init,
    Rebuild,
    Verify,
    Repair,
    GeneralMigration,
    StateChange,
    Unknown(u8),
}

/// One BBM entry in 512-byte sectors (a 4K load multiplies, so the length may exceed 256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BbmEntry {
    pub disk_ordinal: u8,
    pub start: u64,
    pub len: u32,
}

/// The whole decoded MPB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mpb {
    /// Header as loaded; counters (num_disks, num_raid_devs, mpb_size, bbm_log_size,
    /// check_sum, BBM attribute) are recomputed by `encode` from the collections below.
    pub header: RawSuper,
    pub disks: Vec<RawDisk, MAX_DISKS>,
    pub volumes: Vec<Volume, MAX_VOLUMES>,
    pub bbm: Vec<BbmEntry, MAX_BBM_ENTRIES>,
}

/// Sum of LE u32 words of `bytes[..mpb_size]` minus the stored check_sum
/// (docs/imsm.md, "Checksum").
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut sum = 0u32;
    for w in bytes.chunks_exact(4) {
        sum = sum.wrapping_add(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    let stored = bytes
        .get(32..36)
        .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    sum.wrapping_sub(stored)
}

fn truncated(offset: usize, needed: usize, available: usize) -> ParseError {
    ParseError::Truncated {
        offset,
        needed,
        available,
    }
}

impl Mpb {
    /// Decode an MPB given in memory order (anchor sector, then extended sectors), as read
    /// from a disk with logical sector size `lss`. Verifies the checksum over the raw bytes,
    /// converts 4K units to 512-byte sectors, and applies upstream's `clear_hi`.
    pub fn parse(bytes: &[u8], lss: u32) -> Result<Mpb, ParseError> {
        Mpb::from_view(&MpbView::new(bytes, lss)?, lss)
    }

    /// `parse` without the checksum check, for `--examine` of a damaged copy only.
    pub fn parse_unverified(bytes: &[u8], lss: u32) -> Result<Mpb, ParseError> {
        Mpb::from_view(&MpbView::new_unverified(bytes, lss)?, lss)
    }

    /// Copy a checked view into the owned model (512-byte units, `clear_hi` applied).
    pub fn from_view(view: &MpbView<'_>, lss: u32) -> Result<Mpb, ParseError> {
        let mut disks = Vec::new();
        for d in view.disks() {
            disks
                .push(*d)
                .map_err(|_| ParseError::TooManyDisks(view.header().num_disks))?;
        }
        let map = |m: &MapView<'_>, volume: usize| -> Result<Map, ParseError> {
            let mut ords = Vec::new();
            for o in m.ords {
                ords.push(o.get()).map_err(|_| ParseError::BadMemberCount {
                    volume,
                    members: m.header.num_members,
                })?;
            }
            Ok(Map {
                raw: *m.header,
                ords,
            })
        };
        let mut volumes = Vec::new();
        for (v, vol) in view.volumes().iter().enumerate() {
            let map0 = map(&vol.map0, v)?;
            let map1 = match vol.map1.as_ref() {
                Some(m) => Some(map(m, v)?),
                None => None,
            };
            volumes
                .push(Volume {
                    dev: *vol.dev,
                    map0,
                    map1,
                })
                .map_err(|_| ParseError::TooManyVolumes(view.header().num_raid_devs))?;
        }
        let mut bbm = Vec::new();
        for e in view.bbm_entries() {
            let entry = BbmEntry {
                disk_ordinal: e.disk_ordinal,
                start: e.start(),
                len: e.sectors(),
            };
            bbm.push(entry).map_err(|_| {
                ParseError::BadBbmLog(BbmFault::TooManyEntries(view.bbm_entries().len() as u32))
            })?;
        }
        let mut mpb = Mpb {
            header: *view.header(),
            disks,
            volumes,
            bbm,
        };
        if lss == 4096 {
            mpb.convert_from_4k()?;
        }
        if mpb.header.attributes.get() & attrib::TWO_TB_DISK == 0 {
            mpb.clear_hi();
        }
        Ok(mpb)
    }

    fn convert_from_4k(&mut self) -> Result<(), ParseError> {
        const K: u64 = 8;
        let mul = |v: u64| v.checked_mul(K).ok_or(ParseError::UnitOverflow);
        for d in self.disks.iter_mut() {
            d.set_total_blocks(mul(d.total_blocks())?);
        }
        for v in self.volumes.iter_mut() {
            v.dev.set_size(mul(v.dev.size())?);
            v.dev.set_curr_migr_unit(mul(v.dev.curr_migr_unit())?);
            for m in core::iter::once(&mut v.map0).chain(v.map1.iter_mut()) {
                m.raw.set_blocks_per_member(mul(m.raw.blocks_per_member())?);
                m.raw.set_pba_of_lba0(mul(m.raw.pba_of_lba0())?);
                let strip = m
                    .raw
                    .blocks_per_strip
                    .get()
                    .checked_mul(8)
                    .ok_or(ParseError::UnitOverflow)?;
                m.raw.blocks_per_strip.set(strip);
            }
        }
        for e in self.bbm.iter_mut() {
            e.start = mul(e.start)?;
            e.len = e.len.saturating_mul(8);
        }
        Ok(())
    }

    /// Upstream zeroes these hi halves after load when the 2TB_DISK attribute is absent.
    fn clear_hi(&mut self) {
        for d in self.disks.iter_mut() {
            d.total_blocks_hi.set(0);
        }
        for v in self.volumes.iter_mut() {
            v.map0.raw.clear_hi();
            if let Some(m) = v.map1.as_mut() {
                m.raw.clear_hi();
            }
        }
    }

    /// mpb_size this model serialises to (docs/imsm.md, "Size of the MPB").
    pub fn mpb_size(&self) -> usize {
        let bbm = if self.bbm.is_empty() {
            0
        } else {
            BBM_HEADER_LEN + BBM_ENTRY_LEN * self.bbm.len()
        };
        SUPER_LEN
            + DISK_LEN * self.disks.len()
            + self.volumes.iter().map(Volume::record_len).sum::<usize>()
            + bbm
    }

    /// Sectors of `lss` bytes the serialised MPB occupies.
    pub fn sectors(&self, lss: u32) -> usize {
        self.mpb_size().div_ceil(lss.max(1) as usize)
    }

    /// Serialise in memory order (anchor sector first, then the extended sectors) into
    /// `out`, zero-filling up to the end of the last sector. Recomputes num_disks,
    /// num_raid_devs, bbm_log_size, the BBM attribute, mpb_size and check_sum; converts to
    /// 4K units when `lss` is 4096. Returns the number of bytes used (whole sectors).
    pub fn encode(&self, lss: u32, out: &mut [u8]) -> Result<usize, EncodeError> {
        let total = self.mpb_size().div_ceil(lss.max(1) as usize) * lss as usize;
        if let Some(o) = out.get_mut(..total) {
            o.fill(0);
        }
        self.encode_over(lss, out)
    }

    /// Like [`Mpb::encode`], but leaves the bytes between mpb_size and the end of the last
    /// sector as they are in `out`. mdmon regenerates the MPB inside the buffer it loaded
    /// (and last wrote), so those slack bytes on disk are stale buffer contents, not zeros;
    /// writing over the same canvas reproduces them bit for bit.
    pub fn encode_over(&self, lss: u32, out: &mut [u8]) -> Result<usize, EncodeError> {
        if !valid_sector_size(lss) {
            return Err(EncodeError::BadSectorSize(lss));
        }
        let mpb_size = self.mpb_size();
        let total = mpb_size.div_ceil(lss as usize) * lss as usize;
        let out = out
            .get_mut(..total)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;

        let mut header = self.header;
        header.num_disks = u8::try_from(self.disks.len()).map_err(|_| EncodeError::TooLarge)?;
        header.num_raid_devs =
            u8::try_from(self.volumes.len()).map_err(|_| EncodeError::TooLarge)?;
        let mut attributes = header.attributes.get();
        let bbm_log_size = if self.bbm.is_empty() {
            attributes &= !attrib::BBM;
            0
        } else {
            attributes |= attrib::BBM;
            BBM_HEADER_LEN + BBM_ENTRY_LEN * self.bbm.len()
        };
        header.attributes.set(attributes);
        header.bbm_log_size.set(bbm_log_size as u32);
        header.mpb_size.set(mpb_size as u32);

        let four_k = lss == 4096;
        let div = |v: u64| -> Result<u64, EncodeError> { Ok(if four_k { v / 8 } else { v }) };

        let mut w = Writer { out, at: 0 };
        w.put(header.as_bytes())?;
        for d in self.disks.iter() {
            let mut d = *d;
            d.set_total_blocks(div(d.total_blocks())?);
            w.put(d.as_bytes())?;
        }
        for v in self.volumes.iter() {
            let mut dev = v.dev;
            dev.set_size(div(dev.size())?);
            dev.set_curr_migr_unit(div(dev.curr_migr_unit())?);
            w.put(dev.as_bytes())?;
            for m in core::iter::once(&v.map0).chain(v.map1.iter()) {
                let mut raw = m.raw;
                raw.num_members = u8::try_from(m.ords.len()).map_err(|_| EncodeError::TooLarge)?;
                if four_k {
                    raw.set_blocks_per_member(raw.blocks_per_member() / 8);
                    raw.set_pba_of_lba0(raw.pba_of_lba0() / 8);
                    raw.blocks_per_strip.set(raw.blocks_per_strip.get() / 8);
                }
                w.put(raw.as_bytes())?;
                for ord in m.ords.iter() {
                    w.put(&ord.to_le_bytes())?;
                }
            }
        }
        if !self.bbm.is_empty() {
            let h = RawBbmHeader {
                signature: BBM_LOG_SIGNATURE.into(),
                entry_count: (self.bbm.len() as u32).into(),
            };
            w.put(h.as_bytes())?;
            for e in self.bbm.iter() {
                let (start, len) = if four_k {
                    (e.start / 8, (e.len / 8).max(1))
                } else {
                    (e.start, e.len)
                };
                let marked =
                    u8::try_from(len.saturating_sub(1)).map_err(|_| EncodeError::UnitOverflow)?;
                let mut raw = RawBbmEntry {
                    marked_count: marked,
                    disk_ordinal: e.disk_ordinal,
                    start_lo: 0.into(),
                    start_hi: 0.into(),
                };
                raw.set_start(start);
                w.put(raw.as_bytes())?;
            }
        }
        let sum = checksum(w.out.get(..mpb_size).unwrap_or(&[]));
        if let Some(cs) = w.out.get_mut(32..36) {
            cs.copy_from_slice(&sum.to_le_bytes());
        }
        Ok(total)
    }

    /// check_sum of this model's 512-byte-unit image: what mdadm holds (and `--examine`
    /// prints) after loading, also for 4K disks whose on-disk checksum differs.
    pub fn checksum_512(&self) -> Result<u32, EncodeError> {
        let mut buf = [0u8; MPB_BUF_LEN];
        self.encode(512, &mut buf)?;
        Ok(u32::from_le_bytes([buf[32], buf[33], buf[34], buf[35]]))
    }

    /// Index of the table entry whose serial matches.
    pub fn find_disk(&self, serial: &[u8; 16]) -> Option<usize> {
        self.disks.iter().position(|d| serial_eq(&d.serial, serial))
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(EncodeError::TooLarge)?;
        let dst = self
            .out
            .get_mut(self.at..end)
            .ok_or(EncodeError::BufferTooSmall { needed: end })?;
        dst.copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }
}

/// Where the MPB sits at the tail of a disk of `disk_bytes` bytes with sector size `lss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailGeometry {
    pub lss: u32,
    /// Disk size in sectors (N).
    pub sectors: u64,
}

impl TailGeometry {
    pub fn new(disk_bytes: u64, lss: u32) -> Result<TailGeometry, ParseError> {
        if !valid_sector_size(lss) {
            return Err(ParseError::BadGeometry);
        }
        let sectors = disk_bytes / u64::from(lss);
        if sectors < 2 {
            return Err(ParseError::BadGeometry);
        }
        Ok(TailGeometry { lss, sectors })
    }
    /// Byte offset of sector `lba` on the disk.
    pub fn byte_offset(&self, lba: u64) -> u64 {
        lba.saturating_mul(u64::from(self.lss))
    }
    /// Byte offset of the anchor (LBA N-2).
    pub fn anchor_offset(&self) -> u64 {
        self.byte_offset(self.sectors.saturating_sub(2))
    }
    /// Byte offset of the migration record (LBA N-1).
    pub fn migr_record_offset(&self) -> u64 {
        self.byte_offset(self.sectors.saturating_sub(1))
    }
    /// Byte offset of the first extended sector when the MPB has `k` of them (LBA N-2-k).
    pub fn extended_offset(&self, k: u64) -> Option<u64> {
        self.sectors
            .checked_sub(2)?
            .checked_sub(k)
            .map(|lba| self.byte_offset(lba))
    }
}

/// Gather the MPB from `region` (the last `region.len()` bytes of a disk of `disk_bytes`
/// bytes) into `buf` in memory order: anchor first, then the extended sectors. Returns the
/// number of bytes placed (whole sectors). Checks only what is needed to locate the bytes.
pub fn gather_mpb(
    region: &[u8],
    disk_bytes: u64,
    lss: u32,
    buf: &mut [u8],
) -> Result<usize, ParseError> {
    let geo = TailGeometry::new(disk_bytes, lss)?;
    let region_start = disk_bytes
        .checked_sub(region.len() as u64)
        .ok_or(ParseError::BadGeometry)?;
    let lss_us = lss as usize;
    let local = |disk_off: u64, len: usize| -> Result<&[u8], ParseError> {
        let off = disk_off
            .checked_sub(region_start)
            .ok_or(ParseError::Truncated {
                offset: 0,
                needed: usize::try_from(region_start - disk_off.min(region_start))
                    .unwrap_or(usize::MAX)
                    .saturating_add(len),
                available: region.len(),
            })?;
        let off = usize::try_from(off).map_err(|_| ParseError::BadGeometry)?;
        let end = off.checked_add(len).ok_or(ParseError::BadGeometry)?;
        region.get(off..end).ok_or(ParseError::Truncated {
            offset: off,
            needed: len,
            available: region.len(),
        })
    };
    let anchor = local(geo.anchor_offset(), lss_us)?;
    let header: RawSuper = RawSuper::read_from_prefix(anchor)
        .map_err(|_| truncated(0, SUPER_LEN, anchor.len()))?
        .0;
    if !header.has_signature() {
        return Err(ParseError::BadSignature);
    }
    let mpb_size = header.mpb_size.get() as usize;
    if mpb_size > MAX_MPB_BYTES {
        return Err(ParseError::MpbTooLarge {
            mpb_size: header.mpb_size.get(),
            max: MAX_MPB_BYTES,
        });
    }
    let sectors = mpb_size.div_ceil(lss_us).max(1);
    let total = sectors * lss_us;
    let dst = buf.get_mut(..total).ok_or(ParseError::MpbTooLarge {
        mpb_size: header.mpb_size.get(),
        max: MAX_MPB_BYTES,
    })?;
    let (first, rest) = dst.split_at_mut(lss_us);
    first.copy_from_slice(anchor);
    let k = (sectors - 1) as u64;
    if k > 0 {
        let ext_off = geo.extended_offset(k).ok_or(ParseError::BadGeometry)?;
        rest.copy_from_slice(local(ext_off, rest.len())?);
    }
    Ok(total)
}
