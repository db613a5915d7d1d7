//! What the manager needs from a metadata format besides the monitor-side handler.

use super::disk::MetadataDisk;
use mdmon_core::handler::ContainerMetadata;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
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

pub trait Format {
    type Meta: ContainerMetadata + Send;
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
