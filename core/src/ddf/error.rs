//! Typed errors for everything the DDF code refuses.

use super::Capacity;

/// Which on-disk structure (or update payload) an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Structure {
    Anchor,
    Primary,
    Secondary,
    Controller,
    PhysRecords,
    VirtRecords,
    ConfigRecords,
    VdConfig,
    SpareRecord,
    PdData,
}

/// Why a header copy or a section could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// Disk size is not a whole number of 512-byte sectors, or too small for a DDF anchor.
    DiskSize {
        bytes: u64,
    },
    /// mdadm's DDF code only works with 512-byte logical sectors.
    SectorSize {
        bytes: u32,
    },
    /// The tail handed in is longer than the disk.
    TailLongerThanDisk {
        tail: u64,
        disk: u64,
    },
    /// A structure lies (partly) outside the disk or outside the bytes handed in.
    OutOfRange {
        what: Structure,
        lba: u64,
        sectors: u64,
    },
    BadSignature {
        what: Structure,
        found: u32,
    },
    BadCrc {
        what: Structure,
        stored: u32,
        computed: u32,
    },
    Revision {
        found: [u8; 8],
    },
    /// A primary/secondary copy disagrees with the anchor in GUID, revision, LBAs or the
    /// reserved bytes after the type byte.
    CopyMismatch {
        what: Structure,
    },
    HeaderType {
        what: Structure,
        found: u8,
    },
    /// Neither the primary nor the secondary header is usable.
    NoValidCopy,
    /// A geometry field has a value the format (or mdadm) does not allow.
    Geometry {
        field: GeometryField,
        value: u64,
    },
    /// A count in the metadata exceeds what this implementation stores.
    Capacity {
        what: Capacity,
        needed: u64,
    },
    /// A VD configuration record is internally inconsistent.
    BadVdConfig {
        fault: VdConfigFault,
    },
    /// A spare assignment record is internally inconsistent.
    BadSpareRecord,
}

/// Header geometry fields that are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GeometryField {
    MaxPdEntries,
    MaxVdEntries,
    MaxPartitions,
    ConfigRecordLen,
    MaxPrimaryElements,
    ControllerSection,
    PhysSection,
    VirtSection,
    ConfigSection,
    PdDataSection,
    /// A member's header geometry differs from the container's chosen header.
    MemberDiffers,
}

/// Inconsistencies inside one VD configuration record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VdConfigFault {
    /// Primary element count is 0 or larger than the element table.
    PrimaryCount,
    /// Secondary element count is 0.
    SecondaryCount,
    /// BVD sequence is not below the secondary element count.
    SecondarySequence,
    /// Two records of one VD disagree on the number of BVDs.
    SecondaryCountDiffers,
    /// The record is shorter than its element tables.
    Length,
}

/// Loading a container from its members failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LoadError {
    NoMembers,
    /// More members than [`super::MAX_DISKS`].
    TooManyMembers {
        count: usize,
    },
    /// Member `index` (position in the input slice) failed.
    Member {
        index: usize,
        error: ParseError,
    },
    /// The container-wide sections of the chosen member failed.
    Global {
        error: ParseError,
    },
}

/// Building the write image of a member failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteError {
    NoSuchDisk {
        index: usize,
    },
    /// The caller's buffer is shorter than [`super::Container::image_len`].
    BufferTooSmall {
        needed: usize,
        have: usize,
    },
    /// A header LBA or section of this disk does not fit on it.
    Layout {
        what: Structure,
    },
}
