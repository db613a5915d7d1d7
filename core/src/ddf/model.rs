//! The decoded container and how it is loaded from the tails of its member disks
//! (docs/ddf.md, "Loading").

use bitflags::bitflags;
use heapless::Vec;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::crc::ddf_crc;
use super::error::{GeometryField, LoadError, ParseError, Structure, VdConfigFault};
use super::layout::*;
use super::{
    Capacity, MAX_BVDS, MAX_CONFIG_SLOTS, MAX_DISKS, MAX_FINDINGS, MAX_PD_ENTRIES,
    MAX_PRIMARY_ELEMENTS, MAX_RECORD_TAIL, MAX_SECTION_SECTORS, MAX_SPARE_ENTRIES, MAX_VD_ENTRIES,
    MAX_VOLUMES,
};

/// The shell's name for a member disk (it encodes the device number); the core only compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DiskId(pub u64);

/// What the shell hands in for each member: the disk's last bytes (the last 32 MiB, or the
/// whole disk if smaller) and its geometry.
#[derive(Debug, Clone, Copy)]
pub struct MemberInput<'a> {
    pub id: DiskId,
    /// Whole disk size in bytes.
    pub disk_bytes: u64,
    /// Logical sector size in bytes; only 512 is supported (mdadm hard-codes it).
    pub sector_size: u32,
    /// `disk[disk_bytes - tail.len() .. disk_bytes]`.
    pub tail: &'a [u8],
}

bitflags! {
    /// PD entry type bits (docs/ddf.md, "Physical disk entries").
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PdType: u16 {
        const FORCED_GUID = 0x0001;
        const ACTIVE = 0x0002;
        const GLOBAL_SPARE = 0x0004;
        const SPARE = 0x0008;
        const FOREIGN = 0x0010;
        const LEGACY = 0x0020;
    }
}

bitflags! {
    /// PD entry state bits (docs/ddf.md, "Physical disk entries").
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PdState: u16 {
        const ONLINE = 0x01;
        const FAILED = 0x02;
        const REBUILDING = 0x04;
        const TRANSITION = 0x08;
        const SMART = 0x10;
        const UNRECOVERED_READ_ERRORS = 0x20;
        const MISSING = 0x40;
    }
}

impl PdState {
    /// "Working" for state computation and assembly: Online, neither Failed nor Rebuilding.
    pub fn is_working(self) -> bool {
        self.contains(PdState::ONLINE) && !self.intersects(PdState::FAILED | PdState::REBUILDING)
    }
    /// Online and neither Failed nor Missing (spare candidates, `get_extents`).
    pub fn is_usable(self) -> bool {
        self.contains(PdState::ONLINE) && !self.intersects(PdState::FAILED | PdState::MISSING)
    }
}

/// Low three bits of the VD entry state byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VdState {
    Optimal,
    Degraded,
    Deleted,
    Missing,
    Failed,
    PartiallyOptimal,
    Offline,
    Reserved,
}

impl VdState {
    pub const MASK: u8 = 0x07;
    pub fn from_byte(b: u8) -> Self {
        match b & Self::MASK {
            0 => Self::Optimal,
            1 => Self::Degraded,
            2 => Self::Deleted,
            3 => Self::Missing,
            4 => Self::Failed,
            5 => Self::PartiallyOptimal,
            6 => Self::Offline,
            _ => Self::Reserved,
        }
    }
    pub fn bits(self) -> u8 {
        match self {
            Self::Optimal => 0,
            Self::Degraded => 1,
            Self::Deleted => 2,
            Self::Missing => 3,
            Self::Failed => 4,
            Self::PartiallyOptimal => 5,
            Self::Offline => 6,
            Self::Reserved => 7,
        }
    }
}

/// VD state byte: "Morphing".
pub const VD_MORPHING: u8 = 0x08;
/// VD state byte: "Not Consistent" (dirty).
pub const VD_NOT_CONSISTENT: u8 = 0x10;
/// Init-state byte: low two bits.
pub const INIT_STATE_MASK: u8 = 0x03;
pub const INIT_NOT_INITIALISED: u8 = 0;
pub const INIT_QUICK: u8 = 1;
pub const INIT_FULL: u8 = 2;
/// Init-state byte: access bits 6–7.
pub const ACCESS_MASK: u8 = 0xC0;

/// One element of a BVD: which disk (by refnum) and where its extent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    pub refnum: u32,
    /// Start sector of the extent on that disk.
    pub lba: u64,
}

/// One basic VD configuration record (a whole single-level VD, or one mirror of a RAID10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bvd {
    pub fixed: VdConfigFixed,
    /// Every element slot of the record (`max_primary_element_entries` of them), used or not.
    pub elements: Vec<Element, MAX_PRIMARY_ELEMENTS>,
    /// Bytes after the element tables up to the record length, kept verbatim.
    pub tail: Vec<u8, MAX_RECORD_TAIL>,
    /// The stored CRC matched when this record was read (`mdadm --examine` hides records
    /// whose CRC is bad). Records that came from an update count as verified.
    pub crc_ok: bool,
}

impl Bvd {
    /// Decode one record of `record.len()` bytes (= `config_record_len` sectors) with `mppe`
    /// element slots.
    pub fn parse(record: &[u8], mppe: usize) -> Result<Self, ParseError> {
        let length = ParseError::BadVdConfig {
            fault: VdConfigFault::Length,
        };
        if mppe > MAX_PRIMARY_ELEMENTS {
            return Err(ParseError::Capacity {
                what: Capacity::PrimaryElements,
                needed: mppe as u64,
            });
        }
        let (fixed, rest) = VdConfigFixed::read_from_prefix(record).map_err(|_| length)?;
        let refnums = rest.get(..4 * mppe).ok_or(length)?;
        let lbas = rest.get(4 * mppe..12 * mppe).ok_or(length)?;
        let tail = rest.get(12 * mppe..).ok_or(length)?;
        let prim = usize::from(fixed.prim_elmnt_count.get());
        if prim == 0 || prim > mppe {
            return Err(ParseError::BadVdConfig {
                fault: VdConfigFault::PrimaryCount,
            });
        }
        if fixed.sec_elmnt_count == 0 {
            return Err(ParseError::BadVdConfig {
                fault: VdConfigFault::SecondaryCount,
            });
        }
        if fixed.sec_elmnt_count > 1 && fixed.sec_elmnt_seq >= fixed.sec_elmnt_count {
            return Err(ParseError::BadVdConfig {
                fault: VdConfigFault::SecondarySequence,
            });
        }
        let mut elements = Vec::new();
        for (r, l) in refnums.chunks_exact(4).zip(lbas.chunks_exact(8)) {
            let refnum = u32::from_be_bytes(r.try_into().map_err(|_| length)?);
            let lba = u64::from_be_bytes(l.try_into().map_err(|_| length)?);
            elements.push(Element { refnum, lba }).map_err(|_| length)?;
        }
        let tail = Vec::from_slice(tail).map_err(|()| ParseError::Capacity {
            what: Capacity::RecordTail,
            needed: tail.len() as u64,
        })?;
        Ok(Bvd {
            fixed,
            elements,
            tail,
            crc_ok: super::crc::crc_ok(record),
        })
    }

    /// Byte length of this record when encoded.
    pub fn encoded_len(&self) -> usize {
        SECTOR + 12 * self.elements.len() + self.tail.len()
    }

    /// Encode into `out` (its length must be [`Bvd::encoded_len`]) with a fresh CRC.
    /// Returns false, with `out` untouched, if `out` has the wrong length.
    pub fn encode(&self, out: &mut [u8]) -> bool {
        if out.len() != self.encoded_len() {
            return false;
        }
        let n = self.elements.len();
        // Checked splits and length-checked copies: the monitor encodes records while it
        // writes metadata, and the panicking forms stay reachable in the binary even though
        // the length check above rules them out (the compiler cannot follow the arithmetic).
        let Some((fixed, rest)) = out.split_at_mut_checked(SECTOR) else {
            return false;
        };
        let Some((refnums, rest)) = rest.split_at_mut_checked(4 * n) else {
            return false;
        };
        let Some((lbas, tail)) = rest.split_at_mut_checked(8 * n) else {
            return false;
        };
        if tail.len() != self.tail.len() {
            return false;
        }
        tail.copy_from_slice(&self.tail);
        for (d, s) in fixed.iter_mut().zip(self.fixed.as_bytes()) {
            *d = *s;
        }
        for ((e, r), l) in self
            .elements
            .iter()
            .zip(refnums.chunks_exact_mut(4))
            .zip(lbas.chunks_exact_mut(8))
        {
            for (d, s) in r.iter_mut().zip(e.refnum.to_be_bytes()) {
                *d = s;
            }
            for (d, s) in l.iter_mut().zip(e.lba.to_be_bytes()) {
                *d = s;
            }
        }
        super::crc::seal(out);
        true
    }

    pub fn guid(&self) -> &Guid {
        &self.fixed.guid
    }
    /// Configuration sequence number (higher wins on load).
    pub fn seq(&self) -> u32 {
        self.fixed.seq.get()
    }
    /// Number of BVDs of the VD (1 = single level).
    pub fn sec_count(&self) -> u8 {
        self.fixed.sec_elmnt_count
    }
    /// Which BVD of the VD this is; 0 for single-level VDs whatever the byte says.
    pub fn bvd_index(&self) -> u8 {
        if self.fixed.sec_elmnt_count > 1 {
            self.fixed.sec_elmnt_seq
        } else {
            0
        }
    }
    pub fn prim_count(&self) -> usize {
        usize::from(self.fixed.prim_elmnt_count.get())
    }
    /// Sectors of each member extent.
    pub fn blocks(&self) -> u64 {
        self.fixed.blocks.get()
    }

    /// Raw slot index of element `n` (the n-th entry that is not 0xFFFFFFFF).
    pub fn element_slot(&self, n: usize) -> Option<usize> {
        self.elements
            .iter()
            .enumerate()
            .filter(|(_, e)| e.refnum != UNUSED_REFNUM)
            .nth(n)
            .map(|(i, _)| i)
    }

    /// `(raw slot, element number)` of the disk with `refnum`, if this BVD lists it.
    pub fn find_refnum(&self, refnum: u32) -> Option<(usize, usize)> {
        if refnum == UNUSED_REFNUM {
            return None;
        }
        self.elements
            .iter()
            .enumerate()
            .filter(|(_, e)| e.refnum != UNUSED_REFNUM)
            .enumerate()
            .find(|(_, (_, e))| e.refnum == refnum)
            .map(|(n, (i, _))| (i, n))
    }

    /// The first `prim_count` valid elements, in element order.
    pub fn members(&self) -> impl Iterator<Item = &Element> {
        self.elements
            .iter()
            .filter(|e| e.refnum != UNUSED_REFNUM)
            .take(self.prim_count())
    }

    /// Bump the configuration sequence and timestamp, as every mdadm change to a BVD does.
    pub fn bump(&mut self, now: u32) {
        self.fixed.seq.set(self.fixed.seq.get().wrapping_add(1));
        self.fixed.timestamp.set(now);
    }
}

/// A VD with configuration records: its GUID and how many BVDs it has. The BVDs live in
/// [`Container::bvds`], found by GUID and BVD index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    pub guid: Guid,
    pub sec_count: u8,
}

/// A spare assignment record as loaded (mdadm never creates one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpareRecord {
    pub header: SpareHeader,
    pub entries: Vec<SpareEntry, MAX_SPARE_ENTRIES>,
}

impl SpareRecord {
    pub fn parse(record: &[u8]) -> Result<Self, ParseError> {
        let (header, rest) =
            SpareHeader::read_from_prefix(record).map_err(|_| ParseError::BadSpareRecord)?;
        let populated = usize::from(header.populated.get());
        if populated > MAX_SPARE_ENTRIES {
            return Err(ParseError::Capacity {
                what: Capacity::SpareEntries,
                needed: populated as u64,
            });
        }
        let bytes = rest
            .get(..32 * populated)
            .ok_or(ParseError::BadSpareRecord)?;
        let mut entries = Vec::new();
        for chunk in bytes.chunks_exact(32) {
            let e = SpareEntry::read_from_bytes(chunk).map_err(|_| ParseError::BadSpareRecord)?;
            entries.push(e).map_err(|_| ParseError::BadSpareRecord)?;
        }
        Ok(SpareRecord { header, entries })
    }

    pub fn is_dedicated(&self) -> bool {
        self.header.spare_type & SPARE_DEDICATED != 0
    }

    pub fn lists(&self, guid: &Guid) -> bool {
        self.entries.iter().any(|e| &e.guid == guid)
    }

    /// Encode into a whole record slot: header, entries, FF-fill, fresh CRC. mdadm's writer
    /// emits garbage here; writing the record as loaded is the fix, and mdadm never
    /// interprets more than the populated entries (docs/ddf.md, "Spare assignment records
    /// written as loaded").
    pub fn encode(&self, out: &mut [u8]) {
        out.fill(0xFF);
        if let Some(h) = out.get_mut(..32) {
            h.copy_from_slice(self.header.as_bytes());
        }
        // Fixed 32-byte entries after the 32-byte header: `chunks_exact_mut` gives each its
        // place with no index arithmetic, so no length-mismatch panic is left reachable from
        // the monitor (which writes this record).
        for (dst, e) in out
            .get_mut(32..)
            .unwrap_or_default()
            .chunks_exact_mut(32)
            .zip(self.entries.iter())
        {
            for (d, s) in dst.iter_mut().zip(e.as_bytes()) {
                *d = *s;
            }
        }
        super::crc::seal(out);
    }
}

/// What one configuration-record slot of a disk holds. Positions are kept as loaded so an
/// unchanged disk is written back identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSlot {
    Empty,
    /// The BVD of this VD that lists the disk's refnum is written here.
    Volume(Guid),
    /// The disk's spare assignment record.
    Spare,
}

/// One member disk of the container and its local metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub id: DiskId,
    /// Disk size in 512-byte sectors.
    pub sectors: u64,
    pub primary_lba: u64,
    pub secondary_lba: u64,
    pub workspace_lba: u64,
    /// Header timestamp written to this disk (set to "now" by [`Container::begin_sync`]).
    pub timestamp: u32,
    pub pd_data: PdData,
    /// Index of this disk's PD entry (GUID match), if any.
    pub pd_index: Option<u16>,
    pub spare: Option<SpareRecord>,
    pub slots: Vec<ConfigSlot, MAX_CONFIG_SLOTS>,
    /// VDs the kernel is still rebuilding onto this disk (in memory only; on disk it is the
    /// PD entry's Rebuilding bit, which stays set while this list is not empty).
    ///
    /// DDF keeps one state word per physical disk, not per VD, and mdadm leaves a disk
    /// whose entry says Rebuilding out of every VD it assembles. Upstream sets the bit
    /// only for a disk's first VD and clears it when any VD reports the disk in sync, so a
    /// spare activated in two VDs reads as in sync in the second after the first rebuild
    /// ends: a power cut then brings the second VD back with a member that was never
    /// rebuilt, read as good (docs/ddf.md, "Rebuilding").
    pub rebuilding: Vec<Guid, MAX_VOLUMES>,
    /// The VDs whose record this disk's copy held when it was last written (or loaded);
    /// memory only. [`Container::begin_sync`] compares it with the records the disk is
    /// about to be written with to choose the order of the disks (docs/ddf.md, "Member
    /// lists under a cut").
    pub written_records: Vec<Guid, MAX_VOLUMES>,
}

impl Disk {
    pub fn refnum(&self) -> u32 {
        self.pd_data.refnum.get()
    }
}

/// A non-fatal oddity found while loading (mdadm tolerates all of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FindingKind {
    BadSignature {
        found: u32,
    },
    BadCrc {
        stored: u32,
        computed: u32,
    },
    /// The disk's PD-data GUID matches no PD entry; it is carried along but never used.
    NoPdEntry,
    /// A VD config record whose GUID has no VD entry (dropped; upstream leaves it undefined).
    OrphanVdConfig,
    /// A second spare assignment record on one disk (only the first is kept, as upstream).
    ExtraSpareRecord,
    /// A vendor-unique record (not preserved across a rewrite, as upstream).
    VendorRecord,
    /// A BVD of a multi-level VD that has no room (more BVDs than the VD declares).
    ExtraBvd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Finding {
    /// Index into [`Container::disks`], if the finding is local to a disk.
    pub disk: Option<u8>,
    pub what: Structure,
    /// Configuration slot, for config records.
    pub slot: Option<u8>,
    pub kind: FindingKind,
}

/// Which header copy of a disk is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CopyKind {
    Primary,
    Secondary,
}

/// The three headers of one disk as read, and the copy chosen.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSet {
    pub anchor: Header,
    pub primary: Result<Header, ParseError>,
    pub secondary: Result<Header, ParseError>,
    pub active: CopyKind,
}

impl HeaderSet {
    pub fn active_header(&self) -> &Header {
        match (&self.active, &self.primary, &self.secondary) {
            (CopyKind::Primary, Ok(h), _) | (CopyKind::Secondary, _, Ok(h)) => h,
            // Unreachable by construction (read_header_set only picks a valid copy); the
            // anchor is a harmless answer that keeps this total.
            _ => &self.anchor,
        }
    }
    /// LBA of the chosen copy.
    pub fn active_lba(&self) -> u64 {
        match self.active {
            CopyKind::Primary => self.anchor.primary_lba.get(),
            CopyKind::Secondary => self.anchor.secondary_lba.get(),
        }
    }
    /// mdadm's best-disk score: sequence number, minus one if the copy is still open.
    pub fn score(&self) -> i64 {
        let h = self.active_header();
        i64::from(h.seq.get()) - i64::from(h.open_flag != 0)
    }
}

/// Bounds-checked sector access to a member's tail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    tail: &'a [u8],
    tail_start: u64,
    /// Disk size in sectors.
    pub sectors: u64,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(m: &MemberInput<'a>) -> Result<Self, ParseError> {
        if m.disk_bytes % SECTOR_U64 != 0 || m.disk_bytes < 2 * SECTOR_U64 {
            return Err(ParseError::DiskSize {
                bytes: m.disk_bytes,
            });
        }
        let tail_len = m.tail.len() as u64;
        let tail_start =
            m.disk_bytes
                .checked_sub(tail_len)
                .ok_or(ParseError::TailLongerThanDisk {
                    tail: tail_len,
                    disk: m.disk_bytes,
                })?;
        Ok(Reader {
            tail: m.tail,
            tail_start,
            sectors: m.disk_bytes / SECTOR_U64,
        })
    }

    pub(crate) fn read(
        &self,
        what: Structure,
        lba: u64,
        sectors: u64,
    ) -> Result<&'a [u8], ParseError> {
        let bad = ParseError::OutOfRange { what, lba, sectors };
        let end = lba.checked_add(sectors).ok_or(bad)?;
        if end > self.sectors {
            return Err(bad);
        }
        let start = lba.checked_mul(SECTOR_U64).ok_or(bad)?;
        let rel = start.checked_sub(self.tail_start).ok_or(bad)?;
        let rel = usize::try_from(rel).map_err(|_| bad)?;
        let len = usize::try_from(sectors)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR))
            .ok_or(bad)?;
        self.tail
            .get(rel..rel.checked_add(len).ok_or(bad)?)
            .ok_or(bad)
    }
}

/// Decode a header sector and check its signature and CRC.
pub fn parse_header(bytes: &[u8], what: Structure) -> Result<Header, ParseError> {
    let h = Header::read_from_bytes(bytes).map_err(|_| ParseError::OutOfRange {
        what,
        lba: 0,
        sectors: 1,
    })?;
    if h.signature.get() != HEADER_MAGIC {
        return Err(ParseError::BadSignature {
            what,
            found: h.signature.get(),
        });
    }
    let computed = ddf_crc(bytes);
    if computed != h.crc.get() {
        return Err(ParseError::BadCrc {
            what,
            stored: h.crc.get(),
            computed,
        });
    }
    Ok(h)
}

fn read_copy(r: &Reader<'_>, anchor: &Header, what: Structure) -> Result<Header, ParseError> {
    let (lba, ty) = match what {
        Structure::Secondary => (anchor.secondary_lba.get(), HEADER_TYPE_SECONDARY),
        _ => (anchor.primary_lba.get(), HEADER_TYPE_PRIMARY),
    };
    if lba >= r.sectors.saturating_sub(1) {
        return Err(ParseError::OutOfRange {
            what,
            lba,
            sectors: 1,
        });
    }
    let h = parse_header(r.read(what, lba, 1)?, what)?;
    if h.guid != anchor.guid
        || h.revision != anchor.revision
        || h.primary_lba != anchor.primary_lba
        || h.secondary_lba != anchor.secondary_lba
    {
        return Err(ParseError::CopyMismatch { what });
    }
    if h.header_type != ty {
        return Err(ParseError::HeaderType {
            what,
            found: h.header_type,
        });
    }
    // mdadm 4.6 compares only the three reserved bytes after the type; 4.2 compared bytes
    // 113..512. Accepting what 4.6 accepts is the lenient choice; our writer keeps all of
    // 113..512 equal so 4.2 accepts what we write.
    if h.reserved1 != anchor.reserved1 {
        return Err(ParseError::CopyMismatch { what });
    }
    Ok(h)
}

/// Read and choose the headers of one member (mdadm's `load_ddf_headers`).
pub fn read_header_set(m: &MemberInput<'_>) -> Result<HeaderSet, ParseError> {
    let r = Reader::new(m)?;
    read_header_set_with(&r)
}

pub(crate) fn read_header_set_with(r: &Reader<'_>) -> Result<HeaderSet, ParseError> {
    let anchor = parse_header(
        r.read(Structure::Anchor, r.sectors - 1, 1)?,
        Structure::Anchor,
    )?;
    if !REVISIONS.contains(&anchor.revision) {
        return Err(ParseError::Revision {
            found: anchor.revision,
        });
    }
    let primary = read_copy(r, &anchor, Structure::Primary);
    let secondary = read_copy(r, &anchor, Structure::Secondary);
    let active = match (&primary, &secondary) {
        (Ok(p), Ok(s)) => {
            let (ps, ss) = (p.seq.get(), s.seq.get());
            if (ss > ps && s.open_flag == 0) || (ss == ps && p.open_flag != 0 && s.open_flag == 0) {
                CopyKind::Secondary
            } else {
                CopyKind::Primary
            }
        }
        (Ok(_), Err(_)) => CopyKind::Primary,
        (Err(_), Ok(_)) => CopyKind::Secondary,
        (Err(_), Err(_)) => return Err(ParseError::NoValidCopy),
    };
    Ok(HeaderSet {
        anchor,
        primary,
        secondary,
        active,
    })
}

/// Geometry of a container header, validated against the format and our capacities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub mppe: usize,
    /// Bytes per configuration record.
    pub record_bytes: usize,
    /// Configuration slots per disk.
    pub config_slots: usize,
}

fn geometry_err(field: GeometryField, value: u64) -> ParseError {
    ParseError::Geometry { field, value }
}

fn check_section(s: &SectionRef, field: GeometryField, max_len: u32) -> Result<(), ParseError> {
    let len = s.length.get();
    if len == 0 || len > max_len || s.offset.get() == u32::MAX {
        return Err(geometry_err(field, u64::from(len)));
    }
    Ok(())
}

/// Validate the geometry fields of a header.
pub fn geometry(h: &Header) -> Result<Geometry, ParseError> {
    let mppe = usize::from(h.max_primary_element_entries.get());
    if mppe == 0 {
        return Err(geometry_err(GeometryField::MaxPrimaryElements, 0));
    }
    if mppe > MAX_PRIMARY_ELEMENTS {
        return Err(ParseError::Capacity {
            what: Capacity::PrimaryElements,
            needed: mppe as u64,
        });
    }
    let crl = usize::from(h.config_record_len.get());
    let record_bytes = crl * SECTOR;
    let used = SECTOR + elements_bytes(mppe);
    if record_bytes < used {
        return Err(geometry_err(GeometryField::ConfigRecordLen, crl as u64));
    }
    if record_bytes - used > MAX_RECORD_TAIL {
        return Err(ParseError::Capacity {
            what: Capacity::RecordTail,
            needed: (record_bytes - used) as u64,
        });
    }
    check_section(
        &h.controller,
        GeometryField::ControllerSection,
        MAX_SECTION_SECTORS,
    )?;
    check_section(
        &h.phys_records,
        GeometryField::PhysSection,
        MAX_SECTION_SECTORS,
    )?;
    check_section(
        &h.virt_records,
        GeometryField::VirtSection,
        MAX_SECTION_SECTORS,
    )?;
    check_section(
        &h.pd_data,
        GeometryField::PdDataSection,
        MAX_SECTION_SECTORS,
    )?;
    check_section(
        &h.config_records,
        GeometryField::ConfigSection,
        u32::MAX - 1,
    )?;
    let config_slots = h.config_records.length.get() as usize / crl;
    if config_slots > MAX_CONFIG_SLOTS {
        return Err(ParseError::Capacity {
            what: Capacity::ConfigSlots,
            needed: config_slots as u64,
        });
    }
    if usize::from(h.max_pd_entries.get()) > MAX_PD_ENTRIES {
        return Err(ParseError::Capacity {
            what: Capacity::PdEntries,
            needed: u64::from(h.max_pd_entries.get()),
        });
    }
    if usize::from(h.max_vd_entries.get()) > MAX_VD_ENTRIES {
        return Err(ParseError::Capacity {
            what: Capacity::VdEntries,
            needed: u64::from(h.max_vd_entries.get()),
        });
    }
    Ok(Geometry {
        mppe,
        record_bytes,
        config_slots,
    })
}

/// The whole container: global sections from the best member, local data of every member.
#[derive(Debug, Clone)]
pub struct Container {
    /// The active header; per-disk fields (LBAs, timestamp, type, open flag, CRC) are filled
    /// in for each disk when writing.
    pub header: Header,
    pub controller: Controller,
    pub phys: PhysRecordsHeader,
    /// All `max_pdes` PD entries, used or not.
    pub pds: Vec<PdEntry, MAX_PD_ENTRIES>,
    pub virt: VirtRecordsHeader,
    /// All `max_vdes` VD entries; the index is the md subarray number (vcnum).
    pub vds: Vec<VdEntry, MAX_VD_ENTRIES>,
    /// VDs with configuration records, in list order: as found on disk at load, VDs created
    /// since then first (as mdadm inserts them). Disks' slots are rebuilt in this order.
    pub volumes: Vec<Volume, MAX_VOLUMES>,
    /// Every BVD, keyed by (GUID, BVD index).
    pub bvds: Vec<Bvd, MAX_BVDS>,
    /// Member disks: load order, disks added since then first (as upstream inserts them).
    pub disks: Vec<Disk, MAX_DISKS>,
    /// Something changed since the last write (the header sequence was bumped once for it).
    pub updates_pending: bool,
    /// VDs deleted whose entries are still in the VD table: the sync that drops their
    /// records keeps the entry, and the entry is cleared by a later sync once that one was
    /// written (`true`: laid out; a sync not written sets it back). mdadm 4.2 crashes on a
    /// record whose VD the newest header's table lacks (docs/ddf.md, "Deleting a VD").
    pub deleting: Vec<(Guid, bool), MAX_VOLUMES>,
    pub findings: Vec<Finding, MAX_FINDINGS>,
    /// Findings that did not fit in `findings`.
    pub findings_lost: u16,
}

impl Default for Container {
    fn default() -> Self {
        Self::new()
    }
}

impl Container {
    /// An empty container (no members). Use [`Container::load`] to fill it.
    pub fn new() -> Self {
        Container {
            header: Header::new_zeroed(),
            controller: Controller::new_zeroed(),
            phys: PhysRecordsHeader::new_zeroed(),
            pds: Vec::new(),
            virt: VirtRecordsHeader::new_zeroed(),
            vds: Vec::new(),
            volumes: Vec::new(),
            bvds: Vec::new(),
            disks: Vec::new(),
            updates_pending: false,
            deleting: Vec::new(),
            findings: Vec::new(),
            findings_lost: 0,
        }
    }

    fn clear(&mut self) {
        self.pds.clear();
        self.vds.clear();
        self.volumes.clear();
        self.bvds.clear();
        self.disks.clear();
        self.findings.clear();
        self.findings_lost = 0;
        self.updates_pending = false;
        self.deleting.clear();
    }

    pub(crate) fn note(
        &mut self,
        disk: Option<usize>,
        what: Structure,
        slot: Option<usize>,
        kind: FindingKind,
    ) {
        let f = Finding {
            disk: disk.and_then(|d| u8::try_from(d).ok()),
            what,
            slot: slot.and_then(|s| u8::try_from(s).ok()),
            kind,
        };
        if self.findings.push(f).is_err() {
            self.findings_lost = self.findings_lost.saturating_add(1);
        }
    }

    /// Validated geometry of the active header.
    pub fn geometry(&self) -> Result<Geometry, ParseError> {
        geometry(&self.header)
    }

    /// Load from all members (mdadm's `load_super_ddf_all`; docs/ddf.md, "Loading"). On error the
    /// container is left empty-or-partial and must be loaded again before use.
    ///
    /// `members` in the order mdadm would list them (the container's `md/dev-*` entries);
    /// the first of equally good members supplies the container-wide sections.
    ///
    /// Differences from upstream, each invisible to mdadm (docs/ddf.md, "Where we depart
    /// from mdadm's DDF code"): the sequence number continues from the highest one seen
    /// ("Sequence number after a load"); VD configs without a VD entry are dropped ("Values
    /// mdadm leaves undefined"); a disk's config slots keep their positions and VDs keep
    /// their on-disk order (upstream compacts slots and reverses the VD list); the disk list
    /// keeps the input order (upstream reverses it); PD-data GUIDs of all 0xFF never bind to
    /// an unused PD entry; a section whose signature or CRC is wrong is loaded anyway and
    /// noted in [`Container::findings`] (upstream checks only header CRCs) ("Loading
    /// details").
    pub fn load(&mut self, members: &[MemberInput<'_>]) -> Result<(), LoadError> {
        self.clear();
        if members.is_empty() {
            return Err(LoadError::NoMembers);
        }
        if members.len() > MAX_DISKS {
            return Err(LoadError::TooManyMembers {
                count: members.len(),
            });
        }
        let mut sets: Vec<(Reader<'_>, HeaderSet), MAX_DISKS> = Vec::new();
        for (index, m) in members.iter().enumerate() {
            let fail = |error| LoadError::Member { index, error };
            if m.sector_size != SECTOR as u32 {
                return Err(fail(ParseError::SectorSize {
                    bytes: m.sector_size,
                }));
            }
            let r = Reader::new(m).map_err(fail)?;
            let set = read_header_set_with(&r).map_err(fail)?;
            sets.push((r, set)).map_err(|_| LoadError::TooManyMembers {
                count: members.len(),
            })?;
        }
        // Best member: strictly higher score wins, the first wins ties.
        let mut best = 0;
        let mut best_score = i64::MIN;
        let mut max_seq = 0u32;
        for (i, (_, s)) in sets.iter().enumerate() {
            if s.score() > best_score {
                best = i;
                best_score = s.score();
            }
            max_seq = max_seq.max(s.active_header().seq.get());
        }
        let Some((best_reader, best_set)) = sets.get(best) else {
            return Err(LoadError::NoMembers);
        };
        self.header = *best_set.active_header();
        self.header.seq.set(max_seq);
        let geo =
            geometry(&self.header).map_err(|error| LoadError::Member { index: best, error })?;
        self.load_global(best_reader, best_set.active_lba())
            .map_err(|error| LoadError::Global { error })?;
        for (index, ((r, set), m)) in sets.iter().zip(members.iter()).enumerate() {
            self.load_local(index, m.id, r, set, &geo)
                .map_err(|error| LoadError::Member { index, error })?;
        }
        self.rebuilding_from_states();
        for d in 0..self.disks.len() {
            let mut carried = Vec::new();
            self.records_carried(d, &mut carried);
            if let Some(disk) = self.disks.get_mut(d) {
                disk.written_records = carried;
            }
        }
        Ok(())
    }

    /// After a load: a disk whose PD entry says Rebuilding counts as being rebuilt into
    /// every VD that lists it (which one was unfinished is not on disk), so the bit stays
    /// until each of those VDs has reported the disk in sync.
    fn rebuilding_from_states(&mut self) {
        for d in 0..self.disks.len() {
            let Some((pd, refnum)) = self
                .disks
                .get(d)
                .and_then(|disk| Some((usize::from(disk.pd_index?), disk.refnum())))
            else {
                continue;
            };
            if !self.pd_state(pd).contains(PdState::REBUILDING) {
                continue;
            }
            let mut list: Vec<Guid, MAX_VOLUMES> = Vec::new();
            for v in self.volumes.iter() {
                if self.bvd_listing(&v.guid, refnum).is_some() {
                    let _ = list.push(v.guid);
                }
            }
            if let Some(disk) = self.disks.get_mut(d) {
                disk.rebuilding = list;
            }
        }
    }

    /// Disk `d` is being rebuilt into VD `guid`: remember it and set Rebuilding.
    pub(crate) fn start_rebuild(&mut self, d: usize, guid: &Guid) {
        let Some(disk) = self.disks.get_mut(d) else {
            return;
        };
        if !disk.rebuilding.contains(guid) {
            // At most one entry per VD, and MAX_VOLUMES VDs: the push cannot fail.
            let _ = disk.rebuilding.push(*guid);
        }
        if let Some(pd) = disk.pd_index.map(usize::from) {
            let s = self.pd_state(pd);
            self.set_pd_state(pd, s | PdState::REBUILDING);
        }
    }

    /// VD `guid` reports disk `d` in sync. Returns whether the disk is still being rebuilt
    /// into another VD (then Rebuilding must stay set).
    pub(crate) fn end_rebuild(&mut self, d: usize, guid: &Guid) -> bool {
        let Some(disk) = self.disks.get_mut(d) else {
            return false;
        };
        disk.rebuilding.retain(|g| g != guid);
        !disk.rebuilding.is_empty()
    }

    fn load_global(&mut self, r: &Reader<'_>, lba: u64) -> Result<(), ParseError> {
        let h = self.header;
        let at = |s: &SectionRef| lba.checked_add(u64::from(s.offset.get()));
        let sect = |what, s: &SectionRef| -> Result<&[u8], ParseError> {
            let start = at(s).ok_or(ParseError::OutOfRange {
                what,
                lba,
                sectors: 0,
            })?;
            r.read(what, start, u64::from(s.length.get()))
        };
        // Controller data: only its first sector is meaningful to mdadm.
        let ctrl = sect(Structure::Controller, &h.controller)?;
        let ctrl = ctrl
            .get(..SECTOR)
            .ok_or(geometry_err(GeometryField::ControllerSection, 0))?;
        self.controller = Controller::read_from_bytes(ctrl)
            .map_err(|_| geometry_err(GeometryField::ControllerSection, 0))?;
        self.check_section(None, Structure::Controller, CONTROLLER_MAGIC, ctrl);

        let phys = sect(Structure::PhysRecords, &h.phys_records)?;
        let (ph, entries) = PhysRecordsHeader::read_from_prefix(phys)
            .map_err(|_| geometry_err(GeometryField::PhysSection, 0))?;
        let max = usize::from(ph.max_pdes.get());
        if max > MAX_PD_ENTRIES {
            return Err(ParseError::Capacity {
                what: Capacity::PdEntries,
                needed: max as u64,
            });
        }
        let entries = entries.get(..max * RECORD_ENTRY).ok_or(geometry_err(
            GeometryField::PhysSection,
            u64::from(h.phys_records.length.get()),
        ))?;
        self.phys = ph;
        for e in entries.chunks_exact(RECORD_ENTRY) {
            let e = PdEntry::read_from_bytes(e)
                .map_err(|_| geometry_err(GeometryField::PhysSection, 0))?;
            self.pds.push(e).map_err(|_| ParseError::Capacity {
                what: Capacity::PdEntries,
                needed: max as u64,
            })?;
        }
        self.check_section(None, Structure::PhysRecords, PHYS_RECORDS_MAGIC, phys);

        let virt = sect(Structure::VirtRecords, &h.virt_records)?;
        let (vh, entries) = VirtRecordsHeader::read_from_prefix(virt)
            .map_err(|_| geometry_err(GeometryField::VirtSection, 0))?;
        let max = usize::from(vh.max_vdes.get());
        if max > MAX_VD_ENTRIES {
            return Err(ParseError::Capacity {
                what: Capacity::VdEntries,
                needed: max as u64,
            });
        }
        let entries = entries.get(..max * RECORD_ENTRY).ok_or(geometry_err(
            GeometryField::VirtSection,
            u64::from(h.virt_records.length.get()),
        ))?;
        self.virt = vh;
        for e in entries.chunks_exact(RECORD_ENTRY) {
            let e = VdEntry::read_from_bytes(e)
                .map_err(|_| geometry_err(GeometryField::VirtSection, 0))?;
            self.vds.push(e).map_err(|_| ParseError::Capacity {
                what: Capacity::VdEntries,
                needed: max as u64,
            })?;
        }
        self.check_section(None, Structure::VirtRecords, VIRT_RECORDS_MAGIC, virt);
        Ok(())
    }

    /// Sections other than headers are never verified by mdadm; note problems, go on.
    fn check_section(&mut self, disk: Option<usize>, what: Structure, magic: u32, bytes: &[u8]) {
        let found = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .unwrap_or(0);
        if found != magic {
            self.note(disk, what, None, FindingKind::BadSignature { found });
            return;
        }
        if let Some(stored) = super::crc::stored_crc(bytes) {
            let computed = ddf_crc(bytes);
            if stored != computed {
                self.note(disk, what, None, FindingKind::BadCrc { stored, computed });
            }
        }
    }

    fn load_local(
        &mut self,
        index: usize,
        id: DiskId,
        r: &Reader<'_>,
        set: &HeaderSet,
        geo: &Geometry,
    ) -> Result<(), ParseError> {
        let h = set.active_header();
        // Local sections are read with this disk's own header; the write path uses the
        // container's, so the two must describe the same layout.
        if h.as_bytes().get(128..138) != self.header.as_bytes().get(128..138)
            || h.as_bytes().get(192..256) != self.header.as_bytes().get(192..256)
        {
            return Err(geometry_err(GeometryField::MemberDiffers, index as u64));
        }
        let lba = set.active_lba();
        let at = |s: &SectionRef, what| {
            lba.checked_add(u64::from(s.offset.get()))
                .ok_or(ParseError::OutOfRange {
                    what,
                    lba,
                    sectors: 0,
                })
        };
        let pd_bytes = r.read(Structure::PdData, at(&h.pd_data, Structure::PdData)?, 1)?;
        let pd_data = PdData::read_from_bytes(pd_bytes)
            .map_err(|_| geometry_err(GeometryField::PdDataSection, 0))?;
        self.check_section(Some(index), Structure::PdData, PD_DATA_MAGIC, pd_bytes);
        let pd_index = if pd_data.guid == UNUSED_GUID {
            None
        } else {
            self.pds
                .iter()
                .position(|e| e.guid == pd_data.guid)
                .and_then(|i| u16::try_from(i).ok())
        };
        if pd_index.is_none() {
            self.note(Some(index), Structure::PdData, None, FindingKind::NoPdEntry);
        }
        let mut disk = Disk {
            id,
            sectors: r.sectors,
            primary_lba: set.anchor.primary_lba.get(),
            secondary_lba: set.anchor.secondary_lba.get(),
            workspace_lba: set.anchor.workspace_lba.get(),
            timestamp: h.timestamp.get(),
            pd_data,
            pd_index,
            spare: None,
            slots: Vec::new(),
            rebuilding: Vec::new(),
            written_records: Vec::new(),
        };
        let config = r.read(
            Structure::ConfigRecords,
            at(&h.config_records, Structure::ConfigRecords)?,
            u64::from(h.config_records.length.get()),
        )?;
        for (slot, record) in config
            .chunks_exact(geo.record_bytes)
            .take(geo.config_slots)
            .enumerate()
        {
            let magic = record
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            let kind = match magic {
                SPARE_MAGIC if disk.spare.is_none() => {
                    disk.spare = Some(SpareRecord::parse(record)?);
                    ConfigSlot::Spare
                }
                SPARE_MAGIC => {
                    self.note(
                        Some(index),
                        Structure::SpareRecord,
                        Some(slot),
                        FindingKind::ExtraSpareRecord,
                    );
                    ConfigSlot::Empty
                }
                VD_CONFIG_MAGIC => self.absorb_bvd(index, slot, record, geo)?,
                VENDOR_MAGIC => {
                    self.note(
                        Some(index),
                        Structure::ConfigRecords,
                        Some(slot),
                        FindingKind::VendorRecord,
                    );
                    ConfigSlot::Empty
                }
                _ => ConfigSlot::Empty,
            };
            disk.slots.push(kind).map_err(|_| ParseError::Capacity {
                what: Capacity::ConfigSlots,
                needed: geo.config_slots as u64,
            })?;
        }
        self.disks.push(disk).map_err(|_| ParseError::Capacity {
            what: Capacity::Disks,
            needed: (index + 1) as u64,
        })?;
        Ok(())
    }

    /// Merge one VD config record into the container (docs/ddf.md, "Loading", step 3).
    fn absorb_bvd(
        &mut self,
        disk: usize,
        slot: usize,
        record: &[u8],
        geo: &Geometry,
    ) -> Result<ConfigSlot, ParseError> {
        if !super::crc::crc_ok(record) {
            let stored = super::crc::stored_crc(record).unwrap_or(0);
            self.note(
                Some(disk),
                Structure::VdConfig,
                Some(slot),
                FindingKind::BadCrc {
                    stored,
                    computed: ddf_crc(record),
                },
            );
        }
        let bvd = Bvd::parse(record, geo.mppe)?;
        let guid = *bvd.guid();
        if let Some(v) = self.volumes.iter().find(|v| v.guid == guid) {
            if v.sec_count != bvd.sec_count() {
                return Err(ParseError::BadVdConfig {
                    fault: VdConfigFault::SecondaryCountDiffers,
                });
            }
            let idx = bvd.bvd_index();
            if let Some(old) = self
                .bvds
                .iter_mut()
                .find(|b| b.guid() == &guid && b.bvd_index() == idx)
            {
                if bvd.seq() > old.seq() {
                    *old = bvd;
                }
            } else {
                self.bvds.push(bvd).map_err(|_| ParseError::Capacity {
                    what: Capacity::Bvds,
                    needed: (MAX_BVDS + 1) as u64,
                })?;
            }
            return Ok(ConfigSlot::Volume(guid));
        }
        if self.vcnum_of(&guid).is_none() {
            self.note(
                Some(disk),
                Structure::VdConfig,
                Some(slot),
                FindingKind::OrphanVdConfig,
            );
            return Ok(ConfigSlot::Empty);
        }
        let vol = Volume {
            guid,
            sec_count: bvd.sec_count(),
        };
        // Upstream prepends, reversing the order on every load; the order the records sit in
        // on disk is the list order of whoever wrote them (`ddf_update_vlist` writes in list
        // order), so appending lets a restarted daemon keep writing the same order.
        self.volumes.push(vol).map_err(|_| ParseError::Capacity {
            what: Capacity::Volumes,
            needed: (MAX_VOLUMES + 1) as u64,
        })?;
        self.bvds.push(bvd).map_err(|_| ParseError::Capacity {
            what: Capacity::Bvds,
            needed: (MAX_BVDS + 1) as u64,
        })?;
        Ok(ConfigSlot::Volume(guid))
    }

    // ---- lookups -------------------------------------------------------------------------

    /// VD entry index (md subarray number) of a VD GUID.
    pub fn vcnum_of(&self, guid: &Guid) -> Option<u16> {
        if guid == &UNUSED_GUID {
            return None;
        }
        self.vds
            .iter()
            .position(|v| &v.guid == guid)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// GUID of VD entry `vcnum`, if used.
    pub fn vd_guid(&self, vcnum: u16) -> Option<Guid> {
        self.vds
            .get(usize::from(vcnum))
            .map(|v| v.guid)
            .filter(|g| g != &UNUSED_GUID)
    }

    pub fn volume(&self, guid: &Guid) -> Option<&Volume> {
        self.volumes.iter().find(|v| &v.guid == guid)
    }

    /// BVD `index` of VD `guid`.
    pub fn bvd(&self, guid: &Guid, index: u8) -> Option<&Bvd> {
        self.bvds
            .iter()
            .find(|b| b.guid() == guid && b.bvd_index() == index)
    }

    pub(crate) fn bvd_mut(&mut self, guid: &Guid, index: u8) -> Option<&mut Bvd> {
        self.bvds
            .iter_mut()
            .find(|b| b.guid() == guid && b.bvd_index() == index)
    }

    /// PD entry index of a refnum (first match, as mdadm's `find_phys`).
    pub fn pd_by_refnum(&self, refnum: u32) -> Option<usize> {
        if refnum == UNUSED_REFNUM {
            return None;
        }
        self.pds.iter().position(|e| e.refnum.get() == refnum)
    }

    /// Present member disk with this refnum.
    pub fn disk_by_refnum(&self, refnum: u32) -> Option<usize> {
        if refnum == UNUSED_REFNUM {
            return None;
        }
        self.disks.iter().position(|d| d.refnum() == refnum)
    }

    pub fn disk_by_id(&self, id: DiskId) -> Option<usize> {
        self.disks.iter().position(|d| d.id == id)
    }

    pub fn pd_state(&self, pd: usize) -> PdState {
        self.pds
            .get(pd)
            .map(|e| PdState::from_bits_retain(e.state.get()))
            .unwrap_or(PdState::empty())
    }

    pub fn pd_type(&self, pd: usize) -> PdType {
        self.pds
            .get(pd)
            .map(|e| PdType::from_bits_retain(e.pd_type.get()))
            .unwrap_or(PdType::empty())
    }

    pub(crate) fn set_pd_state(&mut self, pd: usize, s: PdState) {
        if let Some(e) = self.pds.get_mut(pd) {
            e.state.set(s.bits());
        }
    }

    pub(crate) fn set_pd_type(&mut self, pd: usize, t: PdType) {
        if let Some(e) = self.pds.get_mut(pd) {
            e.pd_type.set(t.bits());
        }
    }

    /// State of the PD entry for `refnum`; empty (not working) if there is none.
    pub fn refnum_state(&self, refnum: u32) -> PdState {
        self.pd_by_refnum(refnum)
            .map(|i| self.pd_state(i))
            .unwrap_or(PdState::empty())
    }

    /// Mark metadata as changed (mdadm's `ddf_set_updates_pending`): the first change after a
    /// write bumps the header sequence once.
    pub fn mark_pending(&mut self) {
        if !self.updates_pending {
            self.updates_pending = true;
            self.header.seq.set(self.header.seq.get().wrapping_add(1));
        }
    }

    /// Start a write batch (mdadm's `ddf_sync_metadata`): returns false if nothing is pending;
    /// otherwise clears pending and stamps every disk with `now` (DDF time). Then write every
    /// disk with [`Container::write_disk`]; a writer that does not write all disks at once
    /// uses [`Container::begin_sync_in_waves`].
    pub fn begin_sync(&mut self, now: u32) -> bool {
        let mut waves = Vec::new();
        self.begin_sync_in_waves(now, &mut waves)
    }

    /// [`Container::begin_sync`], also giving the wave each disk (by index into `disks`) is
    /// to be written in: every write of a wave completes before the next wave starts, the
    /// disks of one wave may be written at once (docs/ddf.md, "Member lists under a cut").
    pub fn begin_sync_in_waves(&mut self, now: u32, waves: &mut Vec<u8, MAX_DISKS>) -> bool {
        waves.clear();
        if !self.updates_pending {
            return false;
        }
        self.updates_pending = false;
        for d in self.disks.iter_mut() {
            d.timestamp = now;
        }
        self.order_writes(waves);
        true
    }

    /// The VDs whose record disk `d` is written with: a slot names the VD and one of its
    /// BVDs lists the disk (a slot whose VD no longer lists the disk is written empty).
    fn records_carried(&self, d: usize, out: &mut Vec<Guid, MAX_VOLUMES>) {
        out.clear();
        let Some(disk) = self.disks.get(d) else {
            return;
        };
        for s in disk.slots.iter() {
            if let ConfigSlot::Volume(g) = s {
                if !out.contains(g) && self.bvd_listing(g, disk.refnum()).is_some() {
                    // One entry per VD, and at most MAX_VOLUMES VDs: cannot fail.
                    let _ = out.push(*g);
                }
            }
        }
    }

    /// Waves of this sync (docs/ddf.md, "Member lists under a cut"). The disks of a wave are
    /// written at once, so a cut may leave any of them old and any new; the members' copies
    /// are what lists who belongs to a VD, and each member must carry its own record of the
    /// VD whenever a copy that loads lists it. So a disk that is to carry a record it did not
    /// carry when last written (a spare activated into a VD, a member of a new VD) goes in
    /// the first wave, before any copy listing it can load; a disk that drops a record (a
    /// member replaced, a VD deleted) goes in the last, once no copy that loads lists it any
    /// more; all others in between. A sync that changes no disk's records is one wave.
    fn order_writes(&mut self, waves: &mut Vec<u8, MAX_DISKS>) {
        const GAINS: u8 = 0;
        const KEEPS: u8 = 1;
        const DROPS: u8 = 2;
        let mut used = [false; 3];
        for d in 0..self.disks.len() {
            let mut now = Vec::new();
            self.records_carried(d, &mut now);
            let Some(disk) = self.disks.get_mut(d) else {
                break;
            };
            let wave = if now.iter().any(|g| !disk.written_records.contains(g)) {
                GAINS
            } else if disk.written_records.iter().any(|g| !now.contains(g)) {
                DROPS
            } else {
                KEEPS
            };
            disk.written_records = now;
            if let Some(u) = used.get_mut(usize::from(wave)) {
                *u = true;
            }
            // One entry per disk, and MAX_DISKS disks at most: cannot fail.
            let _ = waves.push(wave);
        }
        // Number the waves in use from 0, without gaps.
        for w in waves.iter_mut() {
            let earlier = used.iter().take(usize::from(*w)).filter(|u| **u).count();
            *w = u8::try_from(earlier).unwrap_or(0);
        }
    }
}
