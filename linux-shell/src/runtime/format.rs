//! What the manager needs from a metadata format besides the monitor-side handler.

use super::disk::MetadataDisk;
use mdmon_core::handler::ContainerMetadata;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

/// A container member disk as the manager found it.
#[derive(Debug, Clone)]
pub struct MemberDiskInfo {
    pub kname: String,
    pub major: u32,
    pub minor: u32,
    /// A block device node for it (`/dev/<kname>` or a private temporary node).
    pub path: PathBuf,
}

/// The loaded metadata: the monitor's handler, the manager's first snapshot, and the
/// member disks opened for writing.
pub struct LoadedContainer<M: ContainerMetadata> {
    pub meta: Box<M>,
    pub snapshot: Box<M::Snapshot>,
    pub disks: Vec<MetadataDisk>,
}

impl<M: ContainerMetadata> std::fmt::Debug for LoadedContainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedContainer")
            .field("disks", &self.disks)
            .finish_non_exhaustive()
    }
}

pub type Snapshot<F> = <<F as Format>::Meta as ContainerMetadata>::Snapshot;
pub type Update<F> = <<F as Format>::Meta as ContainerMetadata>::Update;

/// A member array as the manager reads it from sysfs for spare activation.
#[derive(Debug, Clone, Default)]
pub struct ArrayView {
    pub inst: u32,
    pub level: i32,
    pub raid_disks: u32,
    pub layout: u32,
    pub component_size: u64,
    pub resync_start: u64,
    /// (slot, state bits, recovery_start, (major, minor)) of every member with a slot.
    pub members: Vec<(u32, mdmon_core::sysfs::DiskState, u64, (u32, u32))>,
}

/// A disk `activate_spare` chose, as the kernel must be told about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpareDisk {
    pub slot: u32,
    pub major: u32,
    pub minor: u32,
    /// Sectors.
    pub data_offset: u64,
    /// Sectors.
    pub component_size: u64,
    /// The metadata keeps this disk's bad blocks (IMSM's BBM log): md is told so
    /// (`external_bbl`) when the disk joins, as mdadm does for every IMSM member, so a write
    /// error on it is logged rather than a failure of the member (docs/monitor.md, "Bad
    /// blocks").
    pub bad_block_log: bool,
}

pub trait Format {
    type Meta: ContainerMetadata + super::monitor::MonitorEntry + Send;
    /// Reads every member's metadata and opens the disks for O_DIRECT writes.
    fn load(&mut self, members: &[MemberDiskInfo]) -> Result<LoadedContainer<Self::Meta>, String>;
    /// The update a newly found member array needs, if any (`open_new`).
    fn open_new(
        &mut self,
        snap: &Snapshot<Self>,
        inst: u32,
    ) -> Result<Option<Update<Self>>, String>;
    /// Validates an update mdadm sent and prepares everything the monitor will need.
    fn prepare_update(
        &mut self,
        snap: &Snapshot<Self>,
        payload: &[u8],
    ) -> Result<Update<Self>, String>;
    /// Chooses disks for the empty slots of a degraded array and the update recording that
    /// choice (nothing when no rebuild is possible or allowed now).
    fn activate_spare(
        &mut self,
        snap: &Snapshot<Self>,
        array: &ArrayView,
    ) -> Option<(Vec<SpareDisk>, Update<Self>)>;
    /// A disk joined the container: the update that records it as a spare, and the disk
    /// opened for metadata writes under handler id `id`.
    fn add_disk(
        &mut self,
        snap: &Snapshot<Self>,
        disk: &MemberDiskInfo,
        id: u32,
    ) -> Result<(Update<Self>, MetadataDisk), String>;
    /// A disk left the container.
    fn remove_disk(&mut self, snap: &Snapshot<Self>, id: u32) -> Option<Update<Self>>;
}

/// A member device opened for reading its metadata, with its size in bytes and its
/// logical sector size.
#[derive(Debug)]
pub struct OpenedMember {
    pub file: File,
    pub size: u64,
    pub sector: u32,
}

/// Opens a member for reading; errors name the device.
pub fn open_member(path: &std::path::Path) -> Result<OpenedMember, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = block_size(&file).map_err(|e| format!("{}: size: {e}", path.display()))?;
    let sector = logical_sector(&file).unwrap_or(512);
    Ok(OpenedMember { file, size, sector })
}

/// Size of a block device (or file) in bytes.
pub fn block_size(file: &File) -> io::Result<u64> {
    let meta = file.metadata()?;
    if std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
        let mut size: u64 = 0;
        // SAFETY: BLKGETSIZE64 writes one u64 into `size`.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), 0x8008_1272_u32 as _, &mut size) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(size)
    } else {
        Ok(meta.len())
    }
}

/// Logical sector size of a block device (512 for plain files).
pub fn logical_sector(file: &File) -> io::Result<u32> {
    let meta = file.metadata()?;
    if !std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
        return Ok(512);
    }
    let mut ss: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int into `ss`.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), 0x1268_u32 as _, &mut ss) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ss as u32)
}

/// A block device node for a member disk: `/dev/<kname>` when it is the right device, else
/// a private temporary node (removed on drop), as upstream's `dev_open()`.
#[derive(Debug)]
pub struct DiskNode {
    pub path: PathBuf,
    temporary: bool,
}

impl DiskNode {
    pub fn new(kname: &str, major: u32, minor: u32) -> io::Result<DiskNode> {
        let rdev = libc::makedev(major, minor);
        let path = PathBuf::from(format!("/dev/{kname}"));
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.file_type().is_block_device() && meta.rdev() == rdev {
                return Ok(DiskNode {
                    path,
                    temporary: false,
                });
            }
        }
        let path = PathBuf::from(format!(
            "/dev/.tmp.mdmon.{}:{major}:{minor}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        nix::sys::stat::mknod(
            &path,
            nix::sys::stat::SFlag::S_IFBLK,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            rdev,
        )?;
        Ok(DiskNode {
            path,
            temporary: true,
        })
    }
}

impl Drop for DiskNode {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
