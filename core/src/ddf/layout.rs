//! Byte layouts of the DDF structures, exactly as they sit on disk (all integers big-endian).
//!
//! These are plain `zerocopy` records: a structure is checked once (length, signature) when it
//! is read, then kept by value in the model, which edits the fields it owns and writes the
//! record back with [`zerocopy::IntoBytes`]. Keeping every reserved byte inside the record is
//! what makes an unchanged container round-trip byte for byte.

use zerocopy::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// mdadm's DDF code works in 512-byte units whatever the device's logical sector size.
pub const SECTOR: usize = 512;
/// Sector size as a `u64`, for LBA arithmetic.
pub const SECTOR_U64: u64 = 512;

/// A 24-byte DDF GUID.
pub type Guid = [u8; 24];
/// DDF's "no GUID here": 24 bytes of 0xFF.
pub const UNUSED_GUID: Guid = [0xFF; 24];
/// Refnum of an unused PD entry / unused element slot.
pub const UNUSED_REFNUM: u32 = 0xFFFF_FFFF;
/// Refnum mdadm writes into an element whose disk went missing at activation.
pub const LOST_REFNUM: u32 = 0;
/// An absent LBA (no secondary header, absent section offset).
pub const NO_LBA: u64 = u64::MAX;

pub const HEADER_MAGIC: u32 = 0xDE11_DE11;
pub const CONTROLLER_MAGIC: u32 = 0xAD11_1111;
pub const PHYS_RECORDS_MAGIC: u32 = 0x2222_2222;
pub const VIRT_RECORDS_MAGIC: u32 = 0xDDDD_DDDD;
pub const VD_CONFIG_MAGIC: u32 = 0xEEEE_EEEE;
pub const SPARE_MAGIC: u32 = 0x5555_5555;
pub const VENDOR_MAGIC: u32 = 0x8888_8888;
pub const PD_DATA_MAGIC: u32 = 0x3333_3333;

/// Header type byte (offset 112).
pub const HEADER_TYPE_ANCHOR: u8 = 0;
pub const HEADER_TYPE_PRIMARY: u8 = 1;
pub const HEADER_TYPE_SECONDARY: u8 = 2;

/// Revisions mdadm accepts; anything else (notably DDF 2.0 "02.xx.xx") is refused.
pub const REVISIONS: [[u8; 8]; 2] = [*b"01.00.00", *b"01.02.00"];

/// Offset/length pair of a section, in sectors relative to the header LBA.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct SectionRef {
    pub offset: U32,
    pub length: U32,
}

/// Anchor, primary and secondary header (512 bytes; docs/ddf.md, "Headers").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct Header {
    pub signature: U32,
    pub crc: U32,
    pub guid: Guid,
    pub revision: [u8; 8],
    pub seq: U32,
    pub timestamp: U32,
    pub open_flag: u8,
    pub foreign_flag: u8,
    pub enforce_groups: u8,
    pub reserved0: [u8; 13],
    pub extension: [u8; 32],
    pub primary_lba: U64,
    pub secondary_lba: U64,
    pub header_type: u8,
    pub reserved1: [u8; 3],
    pub workspace_len: U32,
    pub workspace_lba: U64,
    pub max_pd_entries: U16,
    pub max_vd_entries: U16,
    pub max_partitions: U16,
    pub config_record_len: U16,
    pub max_primary_element_entries: U16,
    pub reserved2: [u8; 54],
    pub controller: SectionRef,
    pub phys_records: SectionRef,
    pub virt_records: SectionRef,
    pub config_records: SectionRef,
    pub pd_data: SectionRef,
    pub bbm_log: SectionRef,
    pub diagnostics: SectionRef,
    pub vendor_logs: SectionRef,
    pub reserved3: [u8; 256],
}

/// First byte of the header region mdadm 4.2 requires to be identical between the anchor and
/// each copy (type byte at 112 excluded).
pub const HEADER_ANCHOR_COMPARE_FROM: usize = 113;

/// Controller data, first sector (docs/ddf.md, "Controller data"). mdmon never interprets it.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct Controller {
    pub signature: U32,
    pub crc: U32,
    pub guid: Guid,
    pub pci_ids: [U16; 4],
    pub product_id: [u8; 16],
    pub reserved: [u8; 8],
    pub vendor_data: [u8; 448],
}

/// Header of the Physical Disk Records section (64 bytes).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct PhysRecordsHeader {
    pub signature: U32,
    pub crc: U32,
    pub used_pdes: U16,
    pub max_pdes: U16,
    pub reserved: [u8; 52],
}

/// One physical disk entry (64 bytes; docs/ddf.md, "Physical disk entries").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct PdEntry {
    pub guid: Guid,
    pub refnum: U32,
    pub pd_type: U16,
    pub state: U16,
    pub config_size: U64,
    pub path: [u8; 18],
    pub reserved: [u8; 6],
}

/// Header of the Virtual Disk Records section (64 bytes).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct VirtRecordsHeader {
    pub signature: U32,
    pub crc: U32,
    pub populated_vdes: U16,
    pub max_vdes: U16,
    pub reserved: [u8; 52],
}

/// One virtual disk entry (64 bytes; docs/ddf.md, "Virtual disk entries").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct VdEntry {
    pub guid: Guid,
    pub unit: U16,
    pub reserved0: [u8; 2],
    /// mdadm's host-endian "guid_crc"; never read, kept verbatim.
    pub guid_crc: [u8; 2],
    /// mdadm's "type"; never read, kept verbatim.
    pub vd_type: [u8; 2],
    pub state: u8,
    pub init_state: u8,
    pub reserved1: [u8; 14],
    pub name: [u8; 16],
}

/// Fixed 512-byte part of a VD configuration record (docs/ddf.md, "Configuration records").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct VdConfigFixed {
    pub signature: U32,
    pub crc: U32,
    pub guid: Guid,
    pub timestamp: U32,
    pub seq: U32,
    pub reserved0: [u8; 24],
    pub prim_elmnt_count: U16,
    pub chunk_shift: u8,
    pub prl: u8,
    pub rlq: u8,
    pub sec_elmnt_count: u8,
    pub sec_elmnt_seq: u8,
    pub srl: u8,
    pub blocks: U64,
    pub array_blocks: U64,
    pub reserved1: [u8; 8],
    pub spare_refs: [U32; 8],
    pub cache_policy: [u8; 8],
    pub bg_rate: u8,
    pub reserved2: [u8; 3],
    pub reserved3: [u8; 52],
    pub reserved4: [u8; 192],
    pub v: [u8; 96],
    pub vendor: [u8; 32],
}

/// Fixed 32-byte head of a spare assignment record (docs/ddf.md, "Configuration records").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct SpareHeader {
    pub signature: U32,
    pub crc: U32,
    pub timestamp: U32,
    pub reserved0: [u8; 7],
    pub spare_type: u8,
    pub populated: U16,
    pub max: U16,
    pub reserved1: [u8; 8],
}

/// One spare assignment entry (32 bytes).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct SpareEntry {
    pub guid: Guid,
    pub secondary_element: U16,
    pub reserved: [u8; 6],
}

/// Spare type bit: dedicated (otherwise global).
pub const SPARE_DEDICATED: u8 = 0x01;

/// Physical Disk Data (512 bytes; docs/ddf.md, "Physical disk data").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct PdData {
    pub signature: U32,
    pub crc: U32,
    pub guid: Guid,
    pub refnum: U32,
    pub forced_ref: u8,
    pub forced_guid: u8,
    pub vendor: [u8; 32],
    pub reserved: [u8; 442],
}

/// Size of a section header in the PD and VD record sections, and of each entry.
pub const RECORD_ENTRY: usize = 64;

/// Byte size of the variable part (refnums + LBA offsets) of a VD config record.
pub const fn elements_bytes(mppe: usize) -> usize {
    mppe * 12
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use zerocopy::FromZeros;

    #[test]
    fn sizes_match_the_format() {
        assert_eq!(size_of::<Header>(), 512);
        assert_eq!(size_of::<Controller>(), 512);
        assert_eq!(size_of::<PhysRecordsHeader>(), 64);
        assert_eq!(size_of::<PdEntry>(), 64);
        assert_eq!(size_of::<VirtRecordsHeader>(), 64);
        assert_eq!(size_of::<VdEntry>(), 64);
        assert_eq!(size_of::<VdConfigFixed>(), 512);
        assert_eq!(size_of::<SpareHeader>(), 32);
        assert_eq!(size_of::<SpareEntry>(), 32);
        assert_eq!(size_of::<PdData>(), 512);
    }

    #[test]
    fn field_offsets_match_the_format() {
        let mut h = Header::new_zeroed();
        h.primary_lba.set(0x0102_0304_0506_0708);
        h.header_type = 0xAB;
        h.max_primary_element_entries.set(0x1234);
        h.controller.offset.set(0xCAFE_F00D);
        let b = h.as_bytes();
        assert_eq!(&b[96..104], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b[112], 0xAB);
        assert_eq!(&b[136..138], &[0x12, 0x34]);
        assert_eq!(&b[192..196], &[0xCA, 0xFE, 0xF0, 0x0D]);

        let mut c = VdConfigFixed::new_zeroed();
        c.prim_elmnt_count.set(3);
        c.srl = 9;
        c.blocks.set(1);
        c.bg_rate = 0x80;
        let b = c.as_bytes();
        assert_eq!(&b[64..66], &[0, 3]);
        assert_eq!(b[71], 9);
        assert_eq!(b[79], 1);
        assert_eq!(b[136], 0x80);

        let mut v = VdEntry::new_zeroed();
        v.state = 0x11;
        v.name[0] = b'x';
        assert_eq!(v.as_bytes()[32], 0x11);
        assert_eq!(v.as_bytes()[48], b'x');
    }
}
