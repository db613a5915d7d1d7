//! The DDF handler as the monitor drives it: the twin of [`super::imsm`] over
//! [`crate::ddf::Container`].
//!
//! # What the shell must know
//!
//! - **Size.** [`DdfMetadata`] holds the whole container by value (about 340 KiB: core has no
//!   `alloc`), so the shell keeps the whole `DdfMetadata` boxed: build it once where that
//!   much stack is available (`Box::new(DdfMetadata::new())` may build it on the stack
//!   first) and [`DdfMetadata::load`] into the box; [`DdfMetadata::init`] resets it in place.
//! - **Disk ids.** The monitor only knows members by `major:minor`, the metadata only by
//!   [`DiskId`]. Every DDF [`DiskId`] the shell hands in — at load and in
//!   [`crate::ddf::update::NewDisk`] — must be [`disk_id`]`(major, minor)` (the kernel's
//!   32-bit `dev_t` encoding), so `set_disk` can find the container disk of an md member
//!   without a table, and [`DiskWrite::disk`] (a `u32`) carries the same value.
//! - **Clock.** Core has no clock. [`DdfMetadata::now`] is the DDF time (seconds since
//!   1980, [`crate::ddf::ddf_time_from_unix`]) stamped into headers and changed BVDs; the
//!   shell sets it before every monitor pass and before applying updates, through
//!   [`ContainerMetadata::set_time`]. Reading the clock with `clock_gettime` does not
//!   allocate, so the monitor thread does it itself.
//! - **Buffer.** [`ContainerMetadata::sync_buffer_len`] covers [`MAX_DISKS`] disk images, so a
//!   buffer allocated once at start still fits after disks joined the container (a PHYS add
//!   update). Each disk's image starts at a multiple of [`DISK_STRIDE_ALIGN`] (O_DIRECT).
//!   On mdadm's layouts an image is 622 sectors (312 KiB with alignment), so the buffer is
//!   about 10 MiB; [`DdfMetadata::sync_buffer_len_for`] gives the size for fewer disks if
//!   the shell would rather reallocate when disks join.
//! - **Writes.** A sync lists 7 writes per disk on mdadm's layouts (open header, sections,
//!   closed header, for each copy, then the anchor), to be issued in order per disk; at most
//!   [`DDF_MAX_DISK_WRITES`] uncoalesced, which [`MAX_DISK_WRITES`] covers.
//! - **Spare activation** runs on a snapshot in the manager: take a fresh one after the
//!   monitor applied (and wrote) the previous activation's update, or two arrays may be
//!   given overlapping extents on the same spare.

use super::*;
use crate::ddf::layout::SECTOR;
use crate::ddf::ops::{self as dops, DeviceState};
use crate::ddf::update::{PreparedUpdate, ResumedDeletions};
use crate::ddf::{Container, DiskId, LoadError, MemberInput, MAX_DISKS};

/// Alignment of each disk's image inside the sync buffer: a page, enough for O_DIRECT on
/// 512- and 4096-byte devices.
pub const DISK_STRIDE_ALIGN: usize = 4096;

/// Writes one DDF sync needs at most: every disk's plan uncoalesced
/// ([`crate::ddf::write::MAX_WRITE_OPS`] each). On mdadm's layouts a coalesced plan has 7.
pub const DDF_MAX_DISK_WRITES: usize = crate::ddf::write::MAX_WRITE_OPS * MAX_DISKS;

/// Largest major number the kernel's internal `dev_t` can hold (12 bits).
const MAJOR_LIMIT: u32 = 1 << 12;
/// Minor numbers take the low 20 bits of the kernel's `dev_t`.
const MINOR_BITS: u32 = 20;

/// The [`DiskId`] of the block device `major:minor`: the kernel's internal `dev_t`
/// (`MKDEV`: major << 20 | minor), which fits 32 bits for every device Linux can create.
/// `None` for numbers outside that range (not a Linux block device).
pub fn disk_id(major: u32, minor: u32) -> Option<DiskId> {
    if major >= MAJOR_LIMIT || minor >= (1 << MINOR_BITS) {
        return None;
    }
    Some(DiskId(u64::from((major << MINOR_BITS) | minor)))
}

/// `major:minor` of a [`DiskId`] made by [`disk_id`].
pub fn dev_of(id: DiskId) -> Option<(u32, u32)> {
    let v = u32::try_from(id.0).ok()?;
    Some((v >> MINOR_BITS, v & ((1 << MINOR_BITS) - 1)))
}

/// DDF metadata owned by the monitor thread (boxed by the shell: see the module docs).
#[derive(Debug)]
pub struct DdfMetadata {
    pub container: Container,
    /// DDF time the next changes and writes are stamped with; set by the shell.
    pub now: u32,
    /// Operations that failed (unknown VD or device, unrecordable rebuild, dropped update).
    pub op_errors: u32,
    /// Disks a PHYS remove update took out of the container, oldest first: nothing is
    /// written to them any more, and the shell may close their fds (drain it after
    /// `process_update`; a full list drops the newest, which only delays that clean-up).
    pub removed: Vec<DiskId, MAX_DISKS>,
}

impl Default for DdfMetadata {
    fn default() -> Self {
        Self::new()
    }
}

impl DdfMetadata {
    /// An empty handler; [`DdfMetadata::load`] fills it. (Builds ~340 KiB in place: call it
    /// where that much stack is available, or use [`DdfMetadata::init`] on a heap slot.)
    pub fn new() -> Self {
        DdfMetadata {
            container: Container::new(),
            now: 0,
            op_errors: 0,
            removed: Vec::new(),
        }
    }

    /// Resets `self` to the empty state without building a second copy on the stack.
    pub fn init(&mut self) {
        // `load` clears every collection itself; an empty load leaves an empty container.
        self.container.updates_pending = false;
        self.container.disks.clear();
        self.container.bvds.clear();
        self.container.volumes.clear();
        self.container.pds.clear();
        self.container.vds.clear();
        self.container.findings.clear();
        self.container.findings_lost = 0;
        self.now = 0;
        self.op_errors = 0;
        self.removed.clear();
    }

    /// Loads the container from its members (ids from [`disk_id`]); `now` is the DDF time.
    /// A VD delete an earlier daemon left half done is taken up (docs/ddf.md, "Deleting a
    /// VD"): the next sync finishes or undoes it.
    pub fn load(
        &mut self,
        members: &[MemberInput<'_>],
        now: u32,
    ) -> Result<ResumedDeletions, LoadError> {
        self.now = now;
        self.op_errors = 0;
        self.removed.clear();
        self.container.load(members)?;
        Ok(self.container.resume_deletions())
    }

    /// Bytes one disk's image takes in the sync buffer.
    pub fn disk_stride(&self) -> usize {
        self.container
            .image_len()
            .next_multiple_of(DISK_STRIDE_ALIGN)
    }

    /// Sync buffer bytes for `disks` member disks.
    pub fn sync_buffer_len_for(&self, disks: usize) -> usize {
        self.disk_stride().saturating_mul(disks)
    }

    fn error(&mut self) {
        self.op_errors = self.op_errors.saturating_add(1);
    }

    /// The container disk of the md member in `slot`, with the data offset `set_disk` records
    /// when that disk replaces the slot's element. `None`: no such member, or its device is
    /// not representable (then nothing is recorded, as upstream when it cannot find the disk).
    ///
    /// `ArrayRecord` does not carry md's `dev-X/offset`, so the offset is taken from the
    /// metadata: the element that already lists this disk in the VD (on the normal path
    /// `activate_spare`'s VD_CONF update recorded it before the rebuild started). If no
    /// element lists it, the offset is unknown; it only matters for recording an in-sync
    /// disk into the slot, which is then refused (see `set_disk`).
    fn device_in_slot(&self, vcnum: u16, array: &ArrayRecord, slot: u32) -> Option<Device> {
        let m = array.members.iter().find(|m| m.slot == slot)?;
        let id = disk_id(m.major, m.minor)?;
        let c = &self.container;
        let offset = c
            .disk_by_id(id)
            .and_then(|d| c.disks.get(d))
            .map(|d| d.refnum())
            .and_then(|refnum| {
                let guid = c.vd_guid(vcnum)?;
                let count = c.volume(&guid)?.sec_count.max(1);
                (0..count).filter_map(|i| c.bvd(&guid, i)).find_map(|b| {
                    let (raw, _) = b.find_refnum(refnum)?;
                    b.elements.get(raw).map(|e| e.lba)
                })
            });
        Some(Device { id, offset })
    }
}

/// An md member as `set_disk` needs it.
struct Device {
    id: DiskId,
    /// Data offset (sectors), if the metadata knows it.
    offset: Option<u64>,
}

fn vcnum(array: &ArrayRecord) -> Option<u16> {
    u16::try_from(array.inst).ok()
}

impl MonitorHandler for DdfMetadata {
    fn set_array_state(&mut self, array: &mut ArrayRecord, consistent: Consistency) -> bool {
        let Some(vc) = vcnum(array) else {
            self.error();
            return false;
        };
        let c = match consistent {
            Consistency::Dirty => dops::Consistency::Dirty,
            Consistency::Clean => dops::Consistency::Clean,
            Consistency::LeavingReadOnly => dops::Consistency::Activate,
        };
        let progress = dops::resync_progress(
            array.resync_start,
            array.component_size,
            array.level,
            array.layout,
            array.raid_disks,
        );
        match self.container.set_array_state(vc, c, progress, self.now) {
            Ok((clean, out)) => {
                array.check_degraded |= out.check_degraded;
                clean
            }
            Err(_) => {
                self.error();
                // Unknown outcome: report dirty, so the array goes `active` and nothing is
                // claimed clean that the metadata may not say.
                false
            }
        }
    }

    fn set_disk(&mut self, array: &mut ArrayRecord, slot: u32, state: DiskState) {
        let Some(vc) = vcnum(array) else {
            self.error();
            return;
        };
        // md's DS_* bits and the DDF ops' DeviceState share their values; bits DDF does not
        // use (external_bbl) are dropped.
        let bits = DeviceState::from_bits_truncate(state.bits());
        let recording = bits.contains(DeviceState::IN_SYNC) && !bits.contains(DeviceState::FAULTY);
        let device = match self.device_in_slot(vc, array, slot) {
            Some(Device {
                id,
                offset: Some(off),
            }) => Some((id, off)),
            // The offset is only read when an in-sync disk replaces the slot's element;
            // otherwise any value gives upstream's result (state update, VD state).
            Some(Device { id, offset: None }) if !recording => Some((id, 0)),
            Some(Device { offset: None, .. }) => {
                // Recording it with a guessed offset could point the VD at the wrong data;
                // leave the metadata as it is and make the refusal visible.
                self.error();
                return;
            }
            None => None,
        };
        if self
            .container
            .set_disk(vc, slot, device, bits, self.now)
            .is_err()
        {
            self.error();
        }
    }

    /// DDF has no bad-block log; md never sets `external_bbl` on DDF members (mdadm does not
    /// ask for it), so this is reached only if something else did. Saying so makes the
    /// monitor turn the feature off for the member instead of leaving a write waiting.
    fn record_bad_block(
        &mut self,
        _array: &mut ArrayRecord,
        _slot: u32,
        _bb: crate::sysfs::BadBlock,
    ) -> Result<(), crate::monitor::BadBlockError> {
        Err(crate::monitor::BadBlockError::Unsupported)
    }
}

impl ContainerMetadata for DdfMetadata {
    type Update = PreparedUpdate;

    fn process_update(&mut self, update: PreparedUpdate, arrays: &mut [&mut ArrayRecord]) {
        let out = self.container.process_update(update, self.now);
        if out.dropped.is_some() {
            self.error();
        }
        if let Some(id) = out.removed_disk {
            let _ = self.removed.push(id);
        }
        if out.check_degraded_all {
            for a in arrays.iter_mut().filter(|a| a.live) {
                a.check_degraded = true;
            }
        }
    }

    fn sync_buffer_len(&self) -> usize {
        self.sync_buffer_len_for(MAX_DISKS)
    }

    fn sync(
        &mut self,
        buf: &mut [u8],
        writes: &mut Vec<DiskWrite, MAX_DISK_WRITES>,
    ) -> Result<bool, SyncError> {
        writes.clear();
        self.container.finish_deletions();
        if !self.container.updates_pending {
            return Ok(false);
        }
        let stride = self.disk_stride();
        let disks = self.container.disks.len();
        if buf.len() < self.sync_buffer_len_for(disks) {
            return Err(SyncError::BufferTooSmall);
        }
        // Checked before anything is consumed, so a refused sync stays pending.
        if self
            .container
            .disks
            .iter()
            .any(|d| u32::try_from(d.id.0).is_err())
        {
            return Err(SyncError::Encode);
        }
        let mut waves = Vec::new();
        if !self.container.begin_sync_in_waves(self.now, &mut waves) {
            return Ok(false);
        }
        let result = self.lay_out(buf, stride, &waves, writes);
        if result.is_err() {
            writes.clear();
            // Nothing was written: keep the changes pending so the next pass tries again
            // (without a second sequence bump, which `mark_pending` would do).
            self.container.updates_pending = true;
        } else {
            self.container.deletions_laid_out();
        }
        result.map(|()| true)
    }

    fn op_errors(&self) -> u32 {
        self.op_errors
    }

    fn mark_unwritten(&mut self) {
        self.container.updates_pending = true;
        self.container.deletions_unwritten();
    }

    type Snapshot = Container;

    fn snapshot_into(&self, dst: &mut Container) {
        copy_container(dst, &self.container);
    }

    fn set_time(&mut self, unix_secs: u64) {
        self.now = crate::ddf::ddf_time_from_unix(unix_secs);
    }
}

impl DdfMetadata {
    /// Fills one stride of `buf` per disk and lists its writes, coalesced and in plan order,
    /// each disk in its wave (`waves`, by disk index).
    fn lay_out(
        &self,
        buf: &mut [u8],
        stride: usize,
        waves: &[u8],
        writes: &mut Vec<DiskWrite, MAX_DISK_WRITES>,
    ) -> Result<(), SyncError> {
        for (i, d) in self.container.disks.iter().enumerate() {
            let disk = u32::try_from(d.id.0).map_err(|_| SyncError::Encode)?;
            let base = i.checked_mul(stride).ok_or(SyncError::BufferTooSmall)?;
            let end = base.checked_add(stride).ok_or(SyncError::BufferTooSmall)?;
            let chunk = buf.get_mut(base..end).ok_or(SyncError::BufferTooSmall)?;
            let plan = match self.container.write_disk(i, chunk) {
                Ok(p) => p.coalesced(),
                Err(crate::ddf::WriteError::BufferTooSmall { .. }) => {
                    return Err(SyncError::BufferTooSmall)
                }
                Err(_) => return Err(SyncError::Encode),
            };
            for op in plan.ops.iter() {
                // The plan writes whole sectors from sector offsets; anything else would be
                // refused by O_DIRECT, so it is an encoding fault here rather than an I/O
                // error later.
                if op.len % SECTOR != 0 || op.buf_start % SECTOR != 0 {
                    return Err(SyncError::Encode);
                }
                writes
                    .push(DiskWrite {
                        disk,
                        offset: op.disk_offset,
                        buf_start: base
                            .checked_add(op.buf_start)
                            .ok_or(SyncError::BufferTooSmall)?,
                        len: op.len,
                        // Each disk keeps a closed copy at every instant (docs/ddf.md,
                        // "Write order"), so the disks of a wave go out at once; a sync that
                        // changes who carries which VD record is split in waves (docs/ddf.md,
                        // "Member lists under a cut").
                        wave: waves.get(i).copied().unwrap_or(0),
                    })
                    .map_err(|_| SyncError::TooManyWrites)?;
            }
        }
        Ok(())
    }
}

/// `*dst = src.clone()` field by field: the derived `clone_from` would first build the whole
/// ~340 KiB copy on the monitor's stack. The destructuring lists every field, so a field
/// added to `Container` fails to compile here instead of being silently left out.
fn copy_container(dst: &mut Container, src: &Container) {
    let Container {
        header,
        controller,
        phys,
        pds,
        virt,
        vds,
        volumes,
        bvds,
        disks,
        updates_pending,
        deleting,
        findings,
        findings_lost,
    } = src;
    dst.header = *header;
    dst.controller = *controller;
    dst.phys = *phys;
    dst.virt = *virt;
    dst.updates_pending = *updates_pending;
    dst.findings_lost = *findings_lost;
    // Same capacities on both sides: the extends cannot fail.
    dst.pds.clear();
    let _ = dst.pds.extend_from_slice(pds);
    dst.vds.clear();
    let _ = dst.vds.extend_from_slice(vds);
    dst.deleting.clear();
    let _ = dst.deleting.extend_from_slice(deleting);
    dst.volumes.clear();
    let _ = dst.volumes.extend_from_slice(volumes);
    dst.findings.clear();
    let _ = dst.findings.extend_from_slice(findings);
    // One element at a time: each clone is a single BVD (~4.6 KiB) or disk (~5 KiB).
    dst.bvds.clear();
    for b in bvds.iter() {
        let _ = dst.bvds.push(b.clone());
    }
    dst.disks.clear();
    for d in disks.iter() {
        let _ = dst.disks.push(d.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_ids_round_trip_kernel_dev_t() {
        assert_eq!(disk_id(8, 16), Some(DiskId(0x0080_0010)));
        assert_eq!(dev_of(DiskId(0x0080_0010)), Some((8, 16)));
        assert_eq!(
            dev_of(disk_id(259, 0xF_FFFF).unwrap()),
            Some((259, 0xF_FFFF))
        );
        assert_eq!(disk_id(4096, 0), None);
        assert_eq!(disk_id(8, 1 << 20), None);
        assert_eq!(dev_of(DiskId(1 << 32)), None);
    }

    #[test]
    fn set_time_stores_ddf_time() {
        extern crate std;
        let mut m = std::boxed::Box::new(DdfMetadata::new());
        m.set_time(crate::ddf::DDF_EPOCH_OFFSET + 7);
        assert_eq!(m.now, 7);
        // Before 1980 (a clock not set yet): saturates at the epoch instead of wrapping.
        m.set_time(0);
        assert_eq!(m.now, 0);
    }

    #[test]
    fn empty_container_has_nothing_to_sync() {
        extern crate std;
        let mut m = std::boxed::Box::new(DdfMetadata::new());
        m.init();
        let mut writes = Vec::new();
        let mut buf = [0u8; 0];
        assert_eq!(m.sync(&mut buf, &mut writes), Ok(false));
        assert!(writes.is_empty());
        let mut a = ArrayRecord::new(0, 1, 2, 1024);
        // No VD 0: counted, reported dirty.
        assert!(!m.set_array_state(&mut a, Consistency::Clean));
        assert_eq!(m.op_errors(), 1);
    }
}
