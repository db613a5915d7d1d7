//! Pre-opened sysfs attributes: the monitor reads and writes them, never opens them.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Largest attribute value the monitor reads (mdadm 4.6 uses 64 bytes; `sync_completed`
/// "18446744073709551615 / 18446744073709551615\n" is 43).
pub const ATTR_BUF: usize = 64;

/// One open sysfs attribute.
#[derive(Debug)]
pub struct SysfsAttr {
    /// Owned: closed exactly once, by `Drop`.
    fd: RawFd,
}

impl Drop for SysfsAttr {
    /// Out of line on purpose: the monitor drops a removed member's fds, and with several
    /// `OwnedFd`s inlined into one drop the compiler loads `close`'s GOT address into a
    /// register and calls through it, which `cargo xtask audit` cannot resolve. One
    /// function with one call keeps every close a direct, checkable call.
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: `fd` came from `open` in `SysfsAttr::open` and nothing else closes it.
        unsafe { libc::close(self.fd) };
    }
}

impl SysfsAttr {
    /// Opens read-write (read-only where writing is refused) and reads it once, so the
    /// kernel allocates its per-open read buffer now, in the manager, not later in the
    /// monitor (managemon.c `sysfs_open2`).
    pub fn open(path: &Path) -> io::Result<Self> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call; the result is checked.
        let mut fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
            // SAFETY: as above.
            fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        }
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // `fd` was just returned by open and is owned by nobody else.
        let attr = SysfsAttr { fd };
        let mut prime = [0u8; 200];
        let _ = attr.read(&mut prime);
        Ok(attr)
    }

    pub fn raw(&self) -> RawFd {
        self.fd
    }

    /// Reads the value from offset 0 (which also re-arms its POLLPRI notification), strips
    /// one trailing newline. `None` on error or an empty read.
    #[inline]
    pub fn read<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let cap = buf.len().saturating_sub(1);
        // SAFETY: the pointer and length describe `buf`, which outlives the call.
        let n = unsafe { libc::pread(self.raw(), buf.as_mut_ptr().cast(), cap, 0) };
        if n <= 0 {
            return None;
        }
        let text = buf.get(..n as usize)?;
        Some(text.strip_suffix(b"\n").unwrap_or(text))
    }

    /// Reads from offset 0 without touching the text (bad-block lists: their line structure
    /// matters). `None` on error; an empty slice for an empty file.
    #[inline]
    pub fn read_raw<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        // SAFETY: the pointer and length describe `buf`, which outlives the call.
        let n = unsafe { libc::pread(self.raw(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return None;
        }
        buf.get(..n as usize)
    }

    /// One write of the exact bytes at offset 0 (sysfs ignores the position of attribute
    /// writes; a plain file standing in for one in tests needs it); true when all were
    /// written.
    #[inline]
    pub fn write(&self, value: &[u8]) -> bool {
        // SAFETY: the pointer and length describe `value`.
        let n = unsafe { libc::pwrite(self.raw(), value.as_ptr().cast(), value.len(), 0) };
        n >= 0 && n as usize == value.len()
    }

    /// Whether the sysfs node still exists (a stopped array's attributes are unlinked and
    /// would report POLLERR forever).
    #[inline]
    pub fn alive(&self) -> bool {
        // SAFETY: `stat` is plain data, for which all-zero bytes are a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat fills the struct we own; no pointers are retained.
        let r = unsafe { libc::fstat(self.raw(), &mut st) };
        r == 0 && st.st_nlink > 0
    }
}
