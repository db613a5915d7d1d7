//! On-disk IMSM structures as plain little-endian byte layouts (docs/imsm.md, "On-disk
//! structures").
//!
//! Every struct here is `#[repr(C)]`, unaligned and made of byte-order-aware integers, so a
//! value can be read from any byte offset of a caller's buffer and written back bit for bit.
//! The model (`model.rs`) keeps these records by value: fields mdmon never interprets (fillers,
//! cache policy, checkpoint ids...) therefore survive a load/store cycle unchanged, which is
//! what makes a re-serialised MPB byte-identical to the one mdadm wrote.
//!
//! Accessors join the hi/lo halves of 64-bit quantities (docs/imsm.md, "64-bit values in
//! two halves") and never panic.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The 24 signature bytes every MPB starts with; the version text that follows is not checked.
pub const MPB_SIGNATURE: &[u8; 24] = b"Intel Raid ISM Cfg Sig. ";
/// Version written by mdadm 4.6 (and 4.2 for multi-volume or attribute-based containers).
pub const MPB_VERSION_ATTRIBS: &[u8; 6] = b"1.3.00";
/// Version text of a 4.2 spare-only record.
pub const MPB_VERSION_SPARE_42: &[u8; 6] = b"1.0.00";

pub const SUPER_LEN: usize = 216;
pub const DISK_LEN: usize = 48;
pub const DEV_LEN: usize = 112;
pub const MAP_HEADER_LEN: usize = 48;
pub const ORD_LEN: usize = 4;
pub const BBM_HEADER_LEN: usize = 8;
pub const BBM_ENTRY_LEN: usize = 8;
pub const MIGR_RECORD_LEN: usize = 128;
/// mpb_size of a spare-only record: header plus exactly one disk entry (docs/imsm.md,
/// "Spare-only records").
pub const SPARE_MPB_SIZE: usize = SUPER_LEN + DISK_LEN;

/// BBM log signature (docs/imsm.md, "Bad-block log").
pub const BBM_LOG_SIGNATURE: u32 = 0xABAD_B10C;
/// Most BBM entries a log may hold: the format's own limit (docs/imsm.md, "Bad-block log").
pub const BBM_LOG_MAX_ENTRIES: usize = 254;

/// Metadata reservation at the end of every disk, in sectors (docs/imsm.md, "Where the
/// metadata lives").
pub const MPB_SECTOR_CNT: u64 = 2210;
/// Extra tail reservation of member disks.
pub const IMSM_RESERVED_SECTORS: u64 = 8192;
/// Per-member region after the data (PPL / bitmap), counted in blocks_per_member.
pub const NUM_BLOCKS_DIRTY_STRIPE_REGION: u64 = 2048;

/// Disk status bits (docs/imsm.md, "Disk table entries").
pub const DISK_SPARE: u32 = 0x1;
pub const DISK_CONFIGURED: u32 = 0x2;
pub const DISK_FAILED: u32 = 0x4;
pub const DISK_JOURNAL: u32 = 0x0200_0000;

/// Map ord bit: slot is out of sync / failed / being rebuilt (docs/imsm.md, "Maps").
pub const ORD_REBUILD: u32 = 0x0100_0000;
/// Low 24 bits of an ord entry are the disk table index.
pub const ORD_INDEX_MASK: u32 = 0x00FF_FFFF;

/// Volume status bit used to store the logical REPAIR migration (docs/imsm.md, "Volume records").
pub const DEV_VERIFY_AND_FIX: u32 = 0x80;

/// Volume dirty bits (docs/imsm.md, "Volume records").
pub const VOL_DIRTY: u8 = 0x1;
pub const VOL_DSRECORD_VALID: u8 = 0x2;

/// failed_disk_num value meaning "no failed slot".
pub const NO_FAILED_DISK: u8 = 0xFF;

/// scsi_id of an entry marked missing (docs/imsm.md, "Failed and missing disks").
pub const SCSI_ID_MISSING: u32 = 0xFFFF_FFFF;

/// Attribute bits (docs/imsm.md, "Attributes").
pub mod attrib {
    pub const RAID0: u32 = 0x1;
    pub const RAID1: u32 = 0x2;
    pub const RAID10: u32 = 0x4;
    pub const RAID1E: u32 = 0x8;
    pub const RAID5: u32 = 0x10;
    pub const RAIDCNG: u32 = 0x20;
    pub const EXP_STRIPE_SIZE: u32 = 0x40;
    pub const RAID10_EXT: u32 = 0x80;
    pub const NVM: u32 = 0x0200_0000;
    pub const TWO_TB_DISK: u32 = 0x0400_0000;
    pub const BBM: u32 = 0x0800_0000;
    pub const NEVER_USE2: u32 = 0x1000_0000;
    pub const TWO_TB: u32 = 0x2000_0000;
    pub const NEVER_USE: u32 = 0x4000_0000;
    pub const CHECKSUM_VERIFY: u32 = 0x8000_0000;
    /// What mdadm 4.6 can assemble; anything else blocks every volume.
    pub const SUPPORTED: u32 = CHECKSUM_VERIFY
        | TWO_TB
        | TWO_TB_DISK
        | RAID0
        | RAID1
        | RAID10
        | RAID5
        | EXP_STRIPE_SIZE
        | RAID10_EXT
        | BBM;
    /// Tolerated although not "supported".
    pub const IGNORED: u32 = NEVER_USE;
}

/// Map states (docs/imsm.md, "Maps").
pub mod map_state {
    pub const NORMAL: u8 = 0;
    pub const UNINITIALIZED: u8 = 1;
    pub const DEGRADED: u8 = 2;
    pub const FAILED: u8 = 3;
}

/// Raw migration types as stored in `vol.migr_type` (docs/imsm.md, "Volume records").
pub mod migr_type {
    pub const INIT: u8 = 0;
    pub const REBUILD: u8 = 1;
    pub const VERIFY: u8 = 2;
    pub const GEN_MIGR: u8 = 3;
    pub const STATE_CHANGE: u8 = 4;
}

/// Write-hole policies (docs/imsm.md, "Volume records").
pub mod rwh {
    pub const OFF: u8 = 0;
    pub const DISTRIBUTED: u8 = 1;
    pub const JOURNALING_DRIVE: u8 = 2;
    pub const MULTIPLE_DISTRIBUTED: u8 = 3;
    pub const MULTIPLE_PPLS_JOURNALING_DRIVE: u8 = 4;
    pub const MULTIPLE_OFF: u8 = 5;
    pub const BITMAP: u8 = 6;
}

fn join(lo: U32, hi: U32) -> u64 {
    u64::from(lo.get()) | (u64::from(hi.get()) << 32)
}

fn split(v: u64, lo: &mut U32, hi: &mut U32) {
    // Truncation is the point: the two halves are the value.
    lo.set(v as u32);
    hi.set((v >> 32) as u32);
}

/// `imsm_super`: the MPB header (216 bytes; docs/imsm.md, "MPB header").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawSuper {
    pub sig: [u8; 32],
    pub check_sum: U32,
    pub mpb_size: U32,
    pub family_num: U32,
    pub generation_num: U32,
    pub error_log_size: U32,
    pub attributes: U32,
    pub num_disks: u8,
    pub num_raid_devs: u8,
    pub error_log_pos: u8,
    pub fill: u8,
    pub cache_size: U32,
    pub orig_family_num: U32,
    pub pwr_cycle_count: U32,
    pub bbm_log_size: U32,
    pub num_raid_devs_created: U16,
    pub filler1: U16,
    pub creation_time: U64,
    pub filler: [U32; 32],
}

impl RawSuper {
    pub fn has_signature(&self) -> bool {
        self.sig.get(..MPB_SIGNATURE.len()) == Some(&MPB_SIGNATURE[..])
    }

    /// The version text after the signature (up to the first NUL).
    pub fn version(&self) -> &[u8] {
        let rest = self.sig.get(MPB_SIGNATURE.len()..).unwrap_or(&[]);
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        rest.get(..end).unwrap_or(&[])
    }

    pub fn set_version(&mut self, version: &[u8]) {
        let mut sig = [0u8; 32];
        for (d, s) in sig
            .iter_mut()
            .zip(MPB_SIGNATURE.iter().chain(version.iter()))
        {
            *d = *s;
        }
        self.sig = sig;
    }
}

/// `imsm_disk`: one disk table entry (48 bytes; docs/imsm.md, "Disk table entries").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawDisk {
    pub serial: [u8; 16],
    pub total_blocks_lo: U32,
    pub scsi_id: U32,
    pub status: U32,
    pub owner_cfg_num: U32,
    pub total_blocks_hi: U32,
    pub filler: [U32; 3],
}

impl RawDisk {
    pub fn total_blocks(&self) -> u64 {
        join(self.total_blocks_lo, self.total_blocks_hi)
    }
    pub fn set_total_blocks(&mut self, v: u64) {
        split(v, &mut self.total_blocks_lo, &mut self.total_blocks_hi);
    }
    pub fn status(&self) -> u32 {
        self.status.get()
    }
    pub fn is_spare(&self) -> bool {
        self.status() & DISK_SPARE != 0
    }
    pub fn is_configured(&self) -> bool {
        self.status() & DISK_CONFIGURED != 0
    }
    pub fn is_failed(&self) -> bool {
        self.status() & DISK_FAILED != 0
    }
    pub fn is_journal(&self) -> bool {
        self.status() & DISK_JOURNAL != 0
    }
    /// The serial up to its first NUL (at most 16 bytes).
    pub fn serial(&self) -> &[u8] {
        serial_str(&self.serial)
    }
}

/// The meaningful part of a 16-byte serial field: up to the first NUL.
pub fn serial_str(s: &[u8; 16]) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    s.get(..end).unwrap_or(&[])
}

/// strncmp(a, b, 16) == 0 on serial fields (docs/imsm.md, "Disk serials").
pub fn serial_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    serial_str(a) == serial_str(b)
}

/// `imsm_dev` fixed part including `imsm_vol` (112 bytes; docs/imsm.md, "Volume records").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawDev {
    pub volume: [u8; 16],
    pub size_low: U32,
    pub size_high: U32,
    pub status: U32,
    pub reserved_blocks: U32,
    pub migr_priority: u8,
    pub num_sub_vols: u8,
    pub tid: u8,
    pub cng_master_disk: u8,
    pub cache_policy: U16,
    pub cng_state: u8,
    pub cng_sub_state: u8,
    pub my_vol_raid_dev_num: U16,
    pub nv_cache_mode: u8,
    pub nv_cache_flags: u8,
    pub nvc_vol_orig_family_num: U32,
    pub nvc_vol_raid_dev_num: U16,
    pub rwh_policy: u8,
    pub jd_serial: [u8; 16],
    pub filler1: u8,
    pub filler: [U32; 3],
    pub curr_migr_unit_lo: U32,
    pub checkpoint_id: U32,
    pub migr_state: u8,
    pub migr_type: u8,
    pub dirty: u8,
    pub fs_state: u8,
    pub verify_errors: U16,
    pub bad_blocks: U16,
    pub curr_migr_unit_hi: U32,
    pub vol_filler: [U32; 3],
}

impl RawDev {
    pub fn size(&self) -> u64 {
        join(self.size_low, self.size_high)
    }
    pub fn set_size(&mut self, v: u64) {
        split(v, &mut self.size_low, &mut self.size_high);
    }
    pub fn curr_migr_unit(&self) -> u64 {
        join(self.curr_migr_unit_lo, self.curr_migr_unit_hi)
    }
    pub fn set_curr_migr_unit(&mut self, v: u64) {
        split(v, &mut self.curr_migr_unit_lo, &mut self.curr_migr_unit_hi);
    }
    pub fn name(&self) -> &[u8] {
        serial_str(&self.volume)
    }
}

/// `imsm_map` without its ord table (48 bytes; docs/imsm.md, "Maps").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawMap {
    pub pba_of_lba0_lo: U32,
    pub blocks_per_member_lo: U32,
    pub num_data_stripes_lo: U32,
    pub blocks_per_strip: U16,
    pub map_state: u8,
    pub raid_level: u8,
    pub num_members: u8,
    pub num_domains: u8,
    pub failed_disk_num: u8,
    pub ddf: u8,
    pub pba_of_lba0_hi: U32,
    pub blocks_per_member_hi: U32,
    pub num_data_stripes_hi: U32,
    pub filler: [U32; 4],
}

impl RawMap {
    pub fn pba_of_lba0(&self) -> u64 {
        join(self.pba_of_lba0_lo, self.pba_of_lba0_hi)
    }
    pub fn set_pba_of_lba0(&mut self, v: u64) {
        split(v, &mut self.pba_of_lba0_lo, &mut self.pba_of_lba0_hi);
    }
    pub fn blocks_per_member(&self) -> u64 {
        join(self.blocks_per_member_lo, self.blocks_per_member_hi)
    }
    pub fn set_blocks_per_member(&mut self, v: u64) {
        split(
            v,
            &mut self.blocks_per_member_lo,
            &mut self.blocks_per_member_hi,
        );
    }
    pub fn num_data_stripes(&self) -> u64 {
        join(self.num_data_stripes_lo, self.num_data_stripes_hi)
    }
    pub fn set_num_data_stripes(&mut self, v: u64) {
        split(
            v,
            &mut self.num_data_stripes_lo,
            &mut self.num_data_stripes_hi,
        );
    }
    /// Zero the hi halves (`clear_hi`; docs/imsm.md, "64-bit values in two halves").
    pub fn clear_hi(&mut self) {
        self.pba_of_lba0_hi.set(0);
        self.blocks_per_member_hi.set(0);
        self.num_data_stripes_hi.set(0);
    }
}

/// BBM log header (8 bytes; docs/imsm.md, "Bad-block log").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawBbmHeader {
    pub signature: U32,
    pub entry_count: U32,
}

/// BBM log entry (8 bytes, packed; docs/imsm.md, "Bad-block log").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawBbmEntry {
    pub marked_count: u8,
    pub disk_ordinal: u8,
    pub start_lo: U16,
    pub start_hi: U32,
}

impl RawBbmEntry {
    /// 48-bit start LBA.
    pub fn start(&self) -> u64 {
        u64::from(self.start_lo.get()) | (u64::from(self.start_hi.get()) << 16)
    }
    /// Stores the low 48 bits of `v` (the format cannot hold more).
    pub fn set_start(&mut self, v: u64) {
        self.start_lo.set(v as u16);
        self.start_hi.set((v >> 16) as u32);
    }
    /// Length in sectors, 1..=256.
    pub fn sectors(&self) -> u32 {
        u32::from(self.marked_count) + 1
    }
}

/// `migr_record` (128 bytes at LBA N-1; docs/imsm.md, "Migration record").
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RawMigrRecord {
    pub rec_status: U32,
    pub curr_migr_unit_lo: U32,
    pub family_num: U32,
    pub ascending_migr: U32,
    pub blocks_per_unit: U32,
    pub dest_depth_per_unit: U32,
    pub ckpt_area_pba_lo: U32,
    pub dest_1st_member_lba_lo: U32,
    pub num_migr_units_lo: U32,
    pub post_migr_vol_cap: U32,
    pub post_migr_vol_cap_hi: U32,
    pub ckpt_read_disk_num: U32,
    pub curr_migr_unit_hi: U32,
    pub ckpt_area_pba_hi: U32,
    pub dest_1st_member_lba_hi: U32,
    pub num_migr_units_hi: U32,
    pub filler: [U32; 16],
}

impl RawMigrRecord {
    pub fn curr_migr_unit(&self) -> u64 {
        join(self.curr_migr_unit_lo, self.curr_migr_unit_hi)
    }
    pub fn ckpt_area_pba(&self) -> u64 {
        join(self.ckpt_area_pba_lo, self.ckpt_area_pba_hi)
    }
    pub fn set_ckpt_area_pba(&mut self, v: u64) {
        split(v, &mut self.ckpt_area_pba_lo, &mut self.ckpt_area_pba_hi);
    }
    pub fn dest_1st_member_lba(&self) -> u64 {
        join(self.dest_1st_member_lba_lo, self.dest_1st_member_lba_hi)
    }
    pub fn set_dest_1st_member_lba(&mut self, v: u64) {
        split(
            v,
            &mut self.dest_1st_member_lba_lo,
            &mut self.dest_1st_member_lba_hi,
        );
    }
    pub fn num_migr_units(&self) -> u64 {
        join(self.num_migr_units_lo, self.num_migr_units_hi)
    }
    pub fn post_migr_vol_cap(&self) -> u64 {
        join(self.post_migr_vol_cap, self.post_migr_vol_cap_hi)
    }
    pub fn set_post_migr_vol_cap(&mut self, v: u64) {
        split(
            v,
            &mut self.post_migr_vol_cap,
            &mut self.post_migr_vol_cap_hi,
        );
    }
}

// The sizes the rest of the code relies on; a layout slip fails the build.
const _: () = assert!(core::mem::size_of::<RawSuper>() == SUPER_LEN);
const _: () = assert!(core::mem::size_of::<RawDisk>() == DISK_LEN);
const _: () = assert!(core::mem::size_of::<RawDev>() == DEV_LEN);
const _: () = assert!(core::mem::size_of::<RawMap>() == MAP_HEADER_LEN);
const _: () = assert!(core::mem::size_of::<RawBbmHeader>() == BBM_HEADER_LEN);
const _: () = assert!(core::mem::size_of::<RawBbmEntry>() == BBM_ENTRY_LEN);
const _: () = assert!(core::mem::size_of::<RawMigrRecord>() == MIGR_RECORD_LEN);

macro_rules! zeroed_ctor {
    ($($t:ty),*) => {$(
        impl $t {
            /// The all-zero record (every field is an integer or a byte array), without
            /// needing zerocopy's traits in scope.
            pub fn zeroed() -> Self {
                <Self as zerocopy::FromZeros>::new_zeroed()
            }
        }
    )*};
}
zeroed_ctor!(
    RawSuper,
    RawDisk,
    RawDev,
    RawMap,
    RawBbmHeader,
    RawBbmEntry,
    RawMigrRecord
);
