//! SNIA DDF metadata as mdadm writes it.
//!
//! Layers:
//! - [`layout`]: big-endian `zerocopy` records of every on-disk structure;
//! - [`crc`]: mdadm's DDF checksum;
//! - [`model`]: the decoded container ([`Container`]) in fixed-capacity `heapless`
//!   collections, loaded from the tails of all member disks;
//! - [`mod@write`]: per-member "what to write where" images;
//! - [`ops`]: handler operations (array state, set_disk, spare activation, ...);
//! - [`update`]: bounded decoders and appliers for the update payloads mdadm sends;
//! - [`examine`]: `mdadm --examine`-style text and a JSON rendering.
//!
//! Nothing here allocates: every collection has one of the capacities below, and a container
//! that needs more is refused with [`ParseError::Capacity`] naming which one.
//!
//! # How the daemon drives it
//!
//! Manager thread (may allocate; owns nothing the monitor uses):
//! - read the last 32 MiB of every member (`disk[size - min(size, 32 MiB)..]`), build
//!   [`MemberInput`]s and call [`Container::load`] on a heap-allocated [`Container`];
//! - [`Container::update_context`] once; then for each socket update
//!   [`update::UpdateContext::prepare`] (a refused payload is dropped, the client still acked);
//! - container disk joins/leaves: [`Container::prepare_disk_add`] / [`Container::prepare_disk_remove`]
//!   on a snapshot, queue the resulting [`update::PreparedUpdate`];
//! - new member array: [`Container::open_new`] (write `faulty` to the members it returns);
//! - degraded array: [`Container::activate_spare`] with a buffer of
//!   `record bytes × BVD count`; add the chosen disks, then queue the update it built
//!   (after `prepare`, like any other).
//!
//! Monitor thread (no allocation): [`Container::set_array_state`] (with
//! [`ops::resync_progress`]), [`Container::set_disk`], [`Container::process_update`]; then, if
//! [`Container::begin_sync`] says so, [`Container::write_disk`] for every disk into its
//! pre-allocated buffer of [`Container::image_len`] bytes and issue the returned writes in order
//! (disks in parallel). Times are DDF time ([`ddf_time_from_unix`]).
//!
//! `mdmon --examine`: [`examine::has_anchor`] to detect, [`examine::examine_member`] to render.

pub mod crc;
pub mod error;
pub mod examine;
pub mod layout;
pub mod model;
pub mod ops;
pub mod update;
pub mod write;

pub use error::{GeometryField, LoadError, ParseError, Structure, VdConfigFault, WriteError};
pub use model::{
    Bvd, ConfigSlot, Container, Disk, DiskId, Element, Finding, FindingKind, MemberInput, PdState,
    PdType, SpareRecord, VdState, Volume,
};

/// Entries of the Physical Disk Records table. mdadm creates 1023; DDF allows up to 4095,
/// which only hardware controllers use and which would quadruple the model (64 KiB → 256 KiB)
/// for no container mdmon is known to meet.
pub const MAX_PD_ENTRIES: usize = 1023;
/// Entries of the Virtual Disk Records table: mdadm's value (DDF allows up to 4095).
pub const MAX_VD_ENTRIES: usize = 255;
/// Element slots per VD configuration record (`max_primary_element_entries`): mdadm's value.
/// Every slot is kept, used or not, so an unchanged record is written back byte for byte.
pub const MAX_PRIMARY_ELEMENTS: usize = 256;
/// Configuration record slots per disk: mdadm writes `max_partitions + 1` = 65 (64 VD records
/// and the spare assignment record).
pub const MAX_CONFIG_SLOTS: usize = 65;
/// Member disks of one container. md arrays over more than 32 disks with external metadata
/// are not a use case mdmon has to serve; each disk costs about 5 KiB of model.
pub const MAX_DISKS: usize = 32;
/// Virtual disks with configuration records in one container. IMSM allows 2 per container;
/// 16 leaves ample room while keeping the model small.
pub const MAX_VOLUMES: usize = 16;
/// Basic virtual disk records (one per single-level VD, k per RAID10 of k mirrors) over the
/// whole container. Each costs about 4.6 KiB (512-byte fixed part + 256 elements).
pub const MAX_BVDS: usize = 32;
/// Spare assignment entries kept per disk: one per VD the disk spares, so more than
/// [`MAX_VOLUMES`] could never all match.
pub const MAX_SPARE_ENTRIES: usize = MAX_VOLUMES;
/// Bytes after the element tables inside one configuration record (up to one sector, since
/// mdadm sizes `config_record_len` as 1 + ceil(12·mppe/512)).
pub const MAX_RECORD_TAIL: usize = 511;
/// Longest section mdadm accepts, in sectors.
pub const MAX_SECTION_SECTORS: u32 = 1024;
/// Diagnostics kept from one load; more are counted but not stored.
pub const MAX_FINDINGS: usize = 32;

/// Which fixed capacity a container exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Capacity {
    PdEntries,
    VdEntries,
    PrimaryElements,
    ConfigSlots,
    Disks,
    Volumes,
    Bvds,
    SpareEntries,
    RecordTail,
}

/// Seconds between the Unix epoch and the DDF epoch (1980-01-01 UTC); mdadm's `DECADE`.
pub const DDF_EPOCH_OFFSET: u64 = 315_532_800;

/// Unix time to DDF time (saturating: DDF time is 32-bit).
pub fn ddf_time_from_unix(unix: u64) -> u32 {
    u32::try_from(unix.saturating_sub(DDF_EPOCH_OFFSET)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell allocates one container and one write buffer per member up front; keep the
    /// model within the budget the capacities above were chosen for.
    #[test]
    fn model_sizes_stay_within_budget() {
        let container = core::mem::size_of::<Container>();
        let update = core::mem::size_of::<update::PreparedUpdate>();
        assert!(container < 360 * 1024, "Container is {container} bytes");
        assert!(update < 96 * 1024, "PreparedUpdate is {update} bytes");
    }
}
