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

impl core::fmt::Display for Structure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Structure::Anchor => "anchor header",
            Structure::Primary => "primary header",
            Structure::Secondary => "secondary header",
            Structure::Controller => "controller data",
            Structure::PhysRecords => "physical disk records",
            Structure::VirtRecords => "virtual disk records",
            Structure::ConfigRecords => "configuration records",
            Structure::VdConfig => "VD configuration record",
            Structure::SpareRecord => "spare assignment record",
            Structure::PdData => "physical disk data",
        })
    }
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::DiskSize { bytes } => write!(f, "disk size {bytes} is not usable for DDF"),
            ParseError::SectorSize { bytes } => {
                write!(f, "{bytes}-byte sectors are not supported (512 only)")
            }
            ParseError::TailLongerThanDisk { tail, disk } => {
                write!(f, "{tail} tail bytes for a {disk}-byte disk")
            }
            ParseError::OutOfRange { what, lba, sectors } => {
                write!(
                    f,
                    "{what} at LBA {lba} (+{sectors}) is outside the disk or the bytes read"
                )
            }
            ParseError::BadSignature { what, found } => {
                write!(f, "{what}: bad signature {found:08x}")
            }
            ParseError::BadCrc {
                what,
                stored,
                computed,
            } => {
                write!(
                    f,
                    "{what}: CRC {stored:08x} stored, {computed:08x} computed"
                )
            }
            ParseError::Revision { found } => {
                write!(
                    f,
                    "unsupported DDF revision {:?}",
                    core::str::from_utf8(found).unwrap_or("?")
                )
            }
            ParseError::CopyMismatch { what } => write!(f, "{what} disagrees with the anchor"),
            ParseError::HeaderType { what, found } => write!(f, "{what}: header type {found}"),
            ParseError::NoValidCopy => f.write_str("neither primary nor secondary header is valid"),
            ParseError::Geometry { field, value } => write!(f, "invalid {field:?}: {value}"),
            ParseError::Capacity { what, needed } => {
                write!(f, "{what:?} capacity exceeded ({needed} needed)")
            }
            ParseError::BadVdConfig { fault } => {
                write!(f, "malformed VD configuration record: {fault:?}")
            }
            ParseError::BadSpareRecord => f.write_str("malformed spare assignment record"),
        }
    }
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::NoMembers => f.write_str("no member disks"),
            LoadError::TooManyMembers { count } => {
                write!(f, "{count} members exceed the supported maximum")
            }
            LoadError::Member { index, error } => write!(f, "member {index}: {error}"),
            LoadError::Global { error } => write!(f, "container sections: {error}"),
        }
    }
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WriteError::NoSuchDisk { index } => write!(f, "no member disk {index}"),
            WriteError::BufferTooSmall { needed, have } => {
                write!(f, "buffer of {have} bytes, {needed} needed")
            }
            WriteError::Layout { what } => write!(f, "{what} does not fit on the disk"),
        }
    }
}
