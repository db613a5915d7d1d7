//! Typed errors of the IMSM handler. Every malformed input maps to exactly one variant so
//! callers (and tests) can tell why something was refused without parsing text.

use core::fmt;

/// Why an MPB image (or the disk region holding it) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than the structure at `offset` needs.
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// The first 24 bytes are not "Intel Raid ISM Cfg Sig. ".
    BadSignature,
    /// mpb_size smaller than the header, or not a multiple of 4.
    BadMpbSize(u32),
    /// mpb_size larger than this implementation's capacity (`MAX_MPB_BYTES`).
    MpbTooLarge { mpb_size: u32, max: usize },
    /// check_sum does not match. `multi_sector` mirrors upstream's error 3 vs 2
    /// (a multi-sector MPB may be mid-write by a concurrent mdmon and is worth re-reading).
    ChecksumMismatch {
        stored: u32,
        computed: u32,
        multi_sector: bool,
    },
    /// More disks than `MAX_DISKS`.
    TooManyDisks(u8),
    /// More volumes than `MAX_VOLUMES`.
    TooManyVolumes(u8),
    /// A map with more members than `MAX_MEMBERS`, or with none.
    BadMemberCount { volume: usize, members: u8 },
    /// A record (disk table, volume, map, BBM) runs past mpb_size or into the BBM log.
    RecordOverlap {
        offset: usize,
        end: usize,
        limit: usize,
    },
    /// A map ord entry points past the disk table.
    OrdIndexOutOfRange {
        volume: usize,
        slot: usize,
        index: u32,
    },
    /// bbm_log_size inconsistent with the log's own header.
    BadBbmLog(BbmFault),
    /// A BBM entry names a disk past the table.
    BbmOrdinalOutOfRange(u8),
    /// A 4K-unit value does not fit once converted to 512-byte sectors.
    UnitOverflow,
    /// The disk geometry cannot hold an MPB (fewer than 2 sectors, bad sector size,
    /// or the region does not end at the disk's end).
    BadGeometry,
}

/// Sub-reasons of [`ParseError::BadBbmLog`] (upstream `load_bbm_log` codes 2/3/4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BbmFault {
    TooSmall(u32),
    BadSignature(u32),
    TooManyEntries(u32),
    SizeMismatch { log_size: u32, entries: u32 },
}

/// Why a container could not be assembled from its members' copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// No member copy was given.
    NoMembers,
    /// More member disks than `MAX_PRESENT_DISKS`.
    TooManyMembers,
    /// A member's MPB failed to parse (`member` = position in the caller's slice).
    Member { member: usize, error: ParseError },
    /// Members disagree on the logical sector size (upstream refuses mixing).
    MixedSectorSizes,
    /// No candidate survived the family/generation vote.
    NoChampion,
    /// A volume is in general migration but no slot-0/1 member supplied a readable record.
    MigrationRecordUnavailable,
    /// Migration layouts mdadm refuses (map0/map1 pba differ, descending migration).
    UnsupportedMigration,
}

/// Why a serialisation request could not be satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The caller's buffer is too small (`needed` bytes).
    BufferTooSmall { needed: usize },
    /// The model grew beyond what the on-disk counters can express.
    TooLarge,
    /// A value is not representable in 4K units (not a multiple of 8, or overflow).
    UnitOverflow,
    /// Sector size other than 512 or 4096.
    BadSectorSize(u32),
}

/// Why a handler operation refused its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpError {
    /// Volume index past the volume table.
    NoSuchVolume(usize),
    /// Slot past the map.
    NoSuchSlot(usize),
    /// A fixed-capacity collection is full.
    CapacityExceeded,
}

macro_rules! display_via_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_via_debug!(ParseError, BbmFault, LoadError, EncodeError, OpError);
