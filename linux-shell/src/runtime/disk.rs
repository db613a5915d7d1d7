//! Member disks opened for metadata writes, and the aligned buffers those writes come from.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// O_DIRECT needs buffers aligned to the logical block size; a page covers 512 and 4096.
pub const DIRECT_ALIGN: usize = 4096;

/// A zeroed, page-aligned heap buffer. Allocated and freed only by the manager; the
/// monitor borrows it.
#[derive(Debug)]
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain bytes owned by this value; moving it between threads moves
// that ownership.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    pub fn new(len: usize) -> io::Result<Self> {
        let len = len.max(DIRECT_ALIGN).next_multiple_of(DIRECT_ALIGN);
        let layout = Layout::from_size_align(len, DIRECT_ALIGN)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer too large"))?;
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = std::ptr::NonNull::new(raw).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(AlignedBuf { ptr, len })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `new` allocated exactly this size and alignment, which it validated.
        unsafe {
            let layout = Layout::from_size_align_unchecked(self.len, DIRECT_ALIGN);
            dealloc(self.ptr.as_ptr(), layout)
        }
    }
}

/// A container member disk, open for metadata writes.
///
/// O_DIRECT writes from our buffers straight to the device; O_DSYNC makes each write
/// durable (FUA/flush) when it returns, so "dirty" is on stable storage before the kernel is
/// told `active` — upstream issues no flush at all (MDMON.md §8 quirk 14), while the kernel's
/// own md superblock writes use FUA. The cost is measured by `cargo xtask bench`.
#[derive(Debug)]
pub struct MetadataDisk {
    /// The handler's id for this disk.
    pub id: u32,
    pub major: u32,
    pub minor: u32,
    fd: OwnedFd,
}

impl MetadataDisk {
    pub fn open(path: &Path, id: u32, major: u32, minor: u32) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        let flags = libc::O_RDWR | libc::O_DIRECT | libc::O_DSYNC | libc::O_CLOEXEC;
        // SAFETY: `c` is a valid C string for the duration of the call.
        let fd = unsafe { libc::open(c.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: freshly opened, owned by nobody else.
        Ok(MetadataDisk {
            id,
            major,
            minor,
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// One positioned write; true when every byte was written.
    #[inline]
    pub fn write_at(&self, bytes: &[u8], offset: u64) -> bool {
        let Ok(off) = libc::off_t::try_from(offset) else {
            return false;
        };
        // SAFETY: the pointer and length describe `bytes`.
        let n =
            unsafe { libc::pwrite(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), off) };
        n >= 0 && n as usize == bytes.len()
    }
}
