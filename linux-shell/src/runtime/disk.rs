//! Member disks opened for metadata writes, and the aligned buffers those writes come from.

use mdmon_core::handler::DiskWrite;
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

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
/// told `active` — upstream issues no flush at all (docs/crash.md, "Flush before trust"), while the kernel's
/// own md superblock writes use FUA. The cost is measured by `cargo xtask bench`.
#[derive(Debug)]
pub struct MetadataDisk {
    /// The handler's id for this disk.
    pub id: u32,
    pub major: u32,
    pub minor: u32,
    fd: OwnedFd,
    /// A larger metadata sync buffer travelling with a disk that joins the container (the
    /// manager sizes DDF's buffer for the disks present, and the monitor cannot allocate);
    /// after [`MetadataDisk::exchange_sync_buf`] it holds the monitor's previous one.
    pub sync_buf: Option<AlignedBuf>,
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
        Ok(MetadataDisk {
            id,
            major,
            minor,
            // SAFETY: freshly opened, owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            sync_buf: None,
        })
    }

    /// A disk over an already open descriptor (tests: a read-only one makes every write
    /// fail).
    pub fn from_fd(fd: OwnedFd, id: u32, major: u32, minor: u32) -> Self {
        MetadataDisk {
            id,
            major,
            minor,
            fd,
            sync_buf: None,
        }
    }

    /// Monitor side: if this disk brought a larger sync buffer, make it `current` and keep
    /// the previous one here (freed with the disk's box, by whoever frees that: the monitor
    /// frees nothing). No allocation, no copy.
    pub fn exchange_sync_buf(&mut self, current: &mut AlignedBuf) {
        if let Some(bigger) = self.sync_buf.as_mut() {
            if bigger.len() > current.len() {
                core::mem::swap(bigger, current);
            }
        }
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

/// Disks one [`MetadataWriter`] keeps writes in flight on at once (one chain per disk; the
/// monitor's disk table holds 64). Chains beyond this are written synchronously.
pub const MAX_CHAINS: usize = 64;

/// Linux AIO's `struct iocb` (include/uapi/linux/aio_abi.h). `aio_key` and `aio_rw_flags`
/// are one 64-bit field here: the header swaps their order on big-endian machines exactly so
/// that `(rw_flags << 32) | key` is the same value on both byte orders.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Iocb {
    aio_data: u64,
    key_rw_flags: u64,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

/// Linux AIO's `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

const _: () = assert!(core::mem::size_of::<Iocb>() == 64);
const _: () = assert!(core::mem::size_of::<IoEvent>() == 32);

const IOCB_CMD_PWRITE: u16 = 1;
/// fdatasync through AIO: on a block device, a cache flush (PREFLUSH) of the whole disk.
const IOCB_CMD_FDSYNC: u16 = 3;
/// Per-write O_DSYNC (linux/fs.h `RWF_DSYNC`): the write is durable (FUA, or a flush where
/// the device has no FUA) when its completion is reaped. The disks are also opened with
/// O_DSYNC; saying it per write keeps "dirty is on stable storage before `active`" true
/// even for an fd opened without it.
const RWF_DSYNC: u64 = 0x2;

/// The preallocated request memory of one writer: one iocb and a cursor per chain.
#[derive(Debug)]
struct Slots {
    iocbs: [Iocb; MAX_CHAINS],
    /// Index (into the caller's write list) of the write the chain's iocb carries.
    cursor: [usize; MAX_CHAINS],
}

/// Issues one metadata sync's writes to all member disks at once.
///
/// Linux AIO (raw `io_setup`/`io_submit`/`io_getevents`, no libaio): the manager creates
/// the context and the request memory ([`MetadataWriter::new`]); the monitor only submits
/// and reaps, with no allocation and no open. Writes to the same disk stay in the order the
/// handler listed them (IMSM: migration record, extended MPB, anchor; DDF: open header,
/// sections, closed header), each submitted when the previous one on that disk completed;
/// different disks proceed in parallel. So a sync takes about as long as the slowest disk's
/// chain instead of the sum over all disks.
///
/// Without AIO (`io_setup` refused: `aio-max-nr` reached, or a seccomp filter) the same
/// writes go out one `pwrite` after another, as before.
#[derive(Debug)]
pub struct MetadataWriter {
    ctx: Option<u64>,
    slots: Box<Slots>,
}

// SAFETY: the context id is a plain number the kernel knows the process by; the slots are
// owned memory. Moving the writer to the monitor thread moves both.
unsafe impl Send for MetadataWriter {}

impl Default for MetadataWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl MetadataWriter {
    /// Sets up an AIO context for [`MAX_CHAINS`] requests, or falls back to synchronous
    /// writes when the kernel refuses one.
    pub fn new() -> Self {
        let mut writer = Self::synchronous();
        let mut ctx: u64 = 0;
        // SAFETY: io_setup writes one aio_context_t (u64) into `ctx`, which starts at 0 as
        // the kernel requires.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_setup,
                MAX_CHAINS as libc::c_long,
                &mut ctx as *mut u64,
            )
        };
        if r == 0 {
            writer.ctx = Some(ctx);
        }
        writer
    }

    /// A writer that issues one `pwrite` after another (no AIO context).
    pub fn synchronous() -> Self {
        MetadataWriter {
            ctx: None,
            slots: Box::new(Slots {
                iocbs: [Iocb::default(); MAX_CHAINS],
                cursor: [0; MAX_CHAINS],
            }),
        }
    }

    /// Whether writes go out in parallel (an AIO context exists).
    pub fn is_parallel(&self) -> bool {
        self.ctx.is_some()
    }

    /// Writes every entry of `writes` (bytes `buf[buf_start..][..len]` to disk `disk` at
    /// `offset`) and calls `done(index, ok)` once per entry. `disk_of` finds the open disk
    /// for a handler id. Returns after every write has completed or failed: `buf` is free
    /// again then.
    ///
    /// This runs on the monitor thread, which must not reach a panic (`cargo xtask audit`):
    /// every index here is a checked `get`, and the cases those checks exclude (which the
    /// invariants below already rule out) fall back to writing the chain synchronously, so
    /// each write is still issued in order and reported exactly once.
    ///
    /// `preflush`: first flush the write cache of every disk written (all at once), so that
    /// what md wrote before (without FUA) is on stable storage before metadata vouching
    /// for it is (docs/crash.md, "Flush before trust"). A disk whose flush fails gets none
    /// of its writes issued; they are reported failed, as a failed write would be.
    pub fn write_all<'d>(
        &mut self,
        buf: &[u8],
        writes: &[DiskWrite],
        preflush: bool,
        disk_of: impl Fn(u32) -> Option<&'d MetadataDisk>,
        mut done: impl FnMut(usize, bool),
    ) {
        let mut unflushed = DiskSet::new();
        if preflush {
            self.flush_disks(writes, &disk_of, &mut unflushed);
            for (i, w) in writes.iter().enumerate() {
                if unflushed.contains(w.disk) {
                    done(i, false);
                }
            }
        }
        let last = writes.iter().map(|w| w.wave).max().unwrap_or(0);
        for wave in 0..=last {
            self.write_wave(buf, writes, wave, &unflushed, &disk_of, &mut done);
        }
    }

    /// Flushes every disk that has writes in `writes` (one request per disk, all in flight
    /// together); adds each disk whose flush failed to `failed`.
    fn flush_disks<'d>(
        &mut self,
        writes: &[DiskWrite],
        disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
        failed: &mut DiskSet,
    ) {
        let mut flushed = [true; MAX_CHAINS];
        // The distinct disks, in the order of their first write (slot = position).
        let mut disks = [0u32; MAX_CHAINS];
        let mut n = 0usize;
        for w in writes {
            if disks.iter().take(n).any(|&d| d == w.disk) {
                continue;
            }
            if let Some(d) = disks.get_mut(n) {
                *d = w.disk;
                n += 1;
            }
        }
        let fd_of = |disk: u32| disk_of(disk).map(|d| d.fd.as_raw_fd());
        match self.ctx {
            Some(ctx) => {
                let slots = &mut *self.slots;
                let mut ptrs = [core::ptr::null_mut::<Iocb>(); MAX_CHAINS];
                let mut queued = 0usize;
                for (slot, &disk) in disks.iter().enumerate().take(n) {
                    let (Some(fd), Some(iocb)) = (fd_of(disk), slots.iocbs.get_mut(slot)) else {
                        if let Some(f) = flushed.get_mut(slot) {
                            *f = false;
                        }
                        continue;
                    };
                    *iocb = Iocb {
                        aio_data: slot as u64,
                        aio_lio_opcode: IOCB_CMD_FDSYNC,
                        aio_fildes: fd as u32,
                        ..Iocb::default()
                    };
                    if let Some(p) = ptrs.get_mut(queued) {
                        *p = iocb as *mut Iocb;
                        queued += 1;
                    }
                }
                // SAFETY: `ptrs[..queued]` point to iocbs in `self.slots`, filled above; the
                // kernel copies them during the call.
                let mut accepted = unsafe {
                    libc::syscall(
                        libc::SYS_io_submit,
                        ctx as libc::c_ulong,
                        queued as libc::c_long,
                        ptrs.as_mut_ptr(),
                    )
                };
                if accepted < 0 {
                    accepted = 0;
                }
                let accepted = (accepted as usize).min(queued);
                // Requests the kernel did not take: flush those disks one by one.
                for p in ptrs.iter().take(queued).skip(accepted) {
                    // SAFETY: each pointer is to an iocb in `self.slots` (filled above).
                    let (slot, fd) = unsafe { ((**p).aio_data as usize, (**p).aio_fildes) };
                    if let Some(f) = flushed.get_mut(slot) {
                        *f = flush_now(fd as i32);
                    }
                }
                let mut in_flight = accepted;
                let mut events = [IoEvent::default(); MAX_CHAINS];
                while in_flight > 0 {
                    let Some(got) = reap(ctx, in_flight, &mut events) else {
                        break;
                    };
                    for ev in events.iter().take(got) {
                        if let Some(f) = flushed.get_mut(ev.data as usize) {
                            *f = ev.res == 0;
                        }
                        in_flight = in_flight.saturating_sub(1);
                    }
                }
            }
            None => {
                for (slot, &disk) in disks.iter().enumerate().take(n) {
                    let ok = fd_of(disk).is_some_and(flush_now);
                    if let Some(f) = flushed.get_mut(slot) {
                        *f = ok;
                    }
                }
            }
        }
        for (slot, &disk) in disks.iter().enumerate().take(n) {
            if !flushed.get(slot).copied().unwrap_or(false) {
                failed.insert(disk);
            }
        }
    }

    /// The writes of wave `wave`, as `write_all` describes; returns when each completed or
    /// failed.
    fn write_wave<'d>(
        &mut self,
        buf: &[u8],
        writes: &[DiskWrite],
        wave: u8,
        skip: &DiskSet,
        disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
        done: &mut impl FnMut(usize, bool),
    ) {
        let starts = |i: usize| {
            starts_chain(writes, i, wave) && writes.get(i).is_some_and(|w| !skip.contains(w.disk))
        };
        let Some(ctx) = self.ctx else {
            for i in 0..writes.len() {
                if starts(i) {
                    write_chain_sync(buf, writes, i, disk_of, done);
                }
            }
            return;
        };
        // Start one chain per disk: the first write listed for it in this wave.
        let mut chains = 0usize;
        // Chains (slots) whose iocb is prepared and waits for io_submit.
        let mut queued = SlotList::new();
        for i in 0..writes.len() {
            if !starts(i) {
                continue;
            }
            if chains == MAX_CHAINS {
                // Beyond capacity (more disks than any container can hold): write this
                // disk's chain synchronously, in order.
                write_chain_sync(buf, writes, i, disk_of, done);
                continue;
            }
            let slot = chains;
            chains += 1;
            if self.prepare(slot, i, buf, writes, disk_of, done) {
                self.queue(&mut queued, slot, buf, writes, disk_of, done);
            }
        }
        let mut in_flight = self.submit(ctx, queued.as_slice(), buf, writes, disk_of, done);
        let mut events = [IoEvent::default(); MAX_CHAINS];
        while in_flight > 0 {
            let Some(n) = reap(ctx, in_flight, &mut events) else {
                // Cannot happen with valid arguments. Report what is still in flight as
                // failed rather than spin; the kernel keeps the buffer pages pinned until
                // those writes end, and the next sync rewrites everything anyway.
                let slots = &mut *self.slots;
                for (iocb, &index) in slots.iocbs.iter_mut().zip(&slots.cursor).take(chains) {
                    if iocb.aio_nbytes != 0 {
                        done(index, false);
                        iocb.aio_nbytes = 0;
                    }
                }
                return;
            };
            let mut queued = SlotList::new();
            for ev in events.iter().take(n) {
                let slot = ev.data as usize;
                let slots = &mut *self.slots;
                let (Some(iocb), Some(&index)) =
                    (slots.iocbs.get_mut(slot), slots.cursor.get(slot))
                else {
                    continue;
                };
                let ok = ev.res >= 0 && ev.res as u64 == iocb.aio_nbytes;
                iocb.aio_nbytes = 0;
                in_flight = in_flight.saturating_sub(1);
                done(index, ok);
                if !ok {
                    fail_rest_of_chain(writes, index, done);
                    continue;
                }
                // The next write of the same disk, if any.
                if let Some(next) = next_on_disk(writes, index) {
                    if self.prepare(slot, next, buf, writes, disk_of, done) {
                        self.queue(&mut queued, slot, buf, writes, disk_of, done);
                    }
                }
            }
            in_flight += self.submit(ctx, queued.as_slice(), buf, writes, disk_of, done);
        }
    }

    /// Adds prepared chain `slot` to `queued`. The list holds every slot once, so it never
    /// runs out of room; if it did, the chain is written synchronously rather than lost.
    fn queue<'d>(
        &mut self,
        queued: &mut SlotList,
        slot: usize,
        buf: &[u8],
        writes: &[DiskWrite],
        disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
        done: &mut impl FnMut(usize, bool),
    ) {
        if !queued.push(slot) {
            self.abandon_to_sync(slot, buf, writes, disk_of, done);
        }
    }

    /// Takes chain `slot`'s prepared (never submitted) write back and writes it and the rest
    /// of its chain synchronously.
    fn abandon_to_sync<'d>(
        &mut self,
        slot: usize,
        buf: &[u8],
        writes: &[DiskWrite],
        disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
        done: &mut impl FnMut(usize, bool),
    ) {
        let slots = &mut *self.slots;
        let (Some(iocb), Some(&index)) = (slots.iocbs.get_mut(slot), slots.cursor.get(slot)) else {
            return;
        };
        iocb.aio_nbytes = 0;
        write_chain_sync(buf, writes, index, disk_of, done);
    }

    /// Fills `slot`'s iocb for write `index`. A write that cannot be issued is reported
    /// failed, and so is the rest of its disk's chain (`fail_rest_of_chain`). False when
    /// the chain has nothing left to submit (or was written synchronously).
    fn prepare<'d>(
        &mut self,
        slot: usize,
        index: usize,
        buf: &[u8],
        writes: &[DiskWrite],
        disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
        done: &mut impl FnMut(usize, bool),
    ) -> bool {
        let slots = &mut *self.slots;
        let (Some(iocb), Some(cursor)) = (slots.iocbs.get_mut(slot), slots.cursor.get_mut(slot))
        else {
            // Slots come from 0..MAX_CHAINS; were one out of range, the chain still goes
            // out, in order, without AIO.
            write_chain_sync(buf, writes, index, disk_of, done);
            return false;
        };
        let Some(w) = writes.get(index) else {
            return false;
        };
        let bytes = buf.get(w.buf_start..w.buf_start.saturating_add(w.len));
        let fd = disk_of(w.disk).map(|d| d.fd.as_raw_fd());
        let offset = i64::try_from(w.offset).ok();
        let (Some(bytes), Some(fd), Some(offset)) = (bytes, fd, offset) else {
            done(index, false);
            fail_rest_of_chain(writes, index, done);
            return false;
        };
        *cursor = index;
        *iocb = Iocb {
            aio_data: slot as u64,
            key_rw_flags: RWF_DSYNC << 32,
            aio_lio_opcode: IOCB_CMD_PWRITE,
            aio_fildes: fd as u32,
            aio_buf: bytes.as_ptr() as u64,
            aio_nbytes: bytes.len() as u64,
            aio_offset: offset,
            ..Iocb::default()
        };
        true
    }

    /// Submits the prepared iocbs of the chains `queued`; returns how many the kernel
    /// accepted. A request the kernel refuses is written synchronously instead (same order
    /// guarantees: it is the only write of its disk in flight), and so is the rest of its
    /// chain.
    fn submit<'d>(
        &mut self,
        ctx: u64,
        queued: &[usize],
        buf: &[u8],
        writes: &[DiskWrite],
        disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
        done: &mut impl FnMut(usize, bool),
    ) -> usize {
        let mut accepted = 0usize;
        let mut rest = queued;
        while let Some((&first, after_first)) = rest.split_first() {
            let mut ptrs = [core::ptr::null_mut::<Iocb>(); MAX_CHAINS];
            let base = self.slots.iocbs.as_mut_ptr();
            for (p, &slot) in ptrs.iter_mut().zip(rest) {
                // In bounds: slots come from `0..MAX_CHAINS`.
                *p = base.wrapping_add(slot);
            }
            // SAFETY: every pointer is to an iocb in `self.slots`, filled by `prepare`;
            // the kernel copies them during the call. The buffers they name live in `buf`,
            // which the caller keeps until `write_all` has reaped every completion. At most
            // MAX_CHAINS of them (`queued` comes from a SlotList).
            let n = unsafe {
                libc::syscall(
                    libc::SYS_io_submit,
                    ctx as libc::c_ulong,
                    rest.len().min(MAX_CHAINS) as libc::c_long,
                    ptrs.as_mut_ptr(),
                )
            };
            if n > 0 {
                let n = (n as usize).min(rest.len());
                accepted += n;
                rest = rest.get(n..).unwrap_or(&[]);
                continue;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            // The first request was refused: finish its whole chain synchronously.
            self.abandon_to_sync(first, buf, writes, disk_of, done);
            rest = after_first;
        }
        accepted
    }
}

/// Disks (handler ids) left out of a sync: at most [`MAX_CHAINS`], no allocation.
pub(crate) struct DiskSet {
    ids: [u32; MAX_CHAINS],
    len: usize,
}

impl DiskSet {
    fn new() -> Self {
        DiskSet {
            ids: [0; MAX_CHAINS],
            len: 0,
        }
    }
    fn contains(&self, id: u32) -> bool {
        self.ids.iter().take(self.len).any(|&d| d == id)
    }
    fn insert(&mut self, id: u32) {
        if self.contains(id) {
            return;
        }
        if let Some(slot) = self.ids.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        }
    }
}

/// At most [`MAX_CHAINS`] slot numbers, each pushed once per round.
struct SlotList {
    slots: [usize; MAX_CHAINS],
    len: usize,
}

impl SlotList {
    fn new() -> Self {
        SlotList {
            slots: [0; MAX_CHAINS],
            len: 0,
        }
    }

    /// False (nothing stored) when full.
    fn push(&mut self, slot: usize) -> bool {
        match self.slots.get_mut(self.len) {
            Some(s) => {
                *s = slot;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn as_slice(&self) -> &[usize] {
        // `len` only grows through a successful `get_mut(len)`, so it never exceeds
        // MAX_CHAINS; the fallback exists only to keep a panic path out of the monitor.
        self.slots.get(..self.len).unwrap_or(&[])
    }
}

/// Whether write `i` is the first of its disk in wave `wave` (where that disk's chain starts).
fn starts_chain(writes: &[DiskWrite], i: usize, wave: u8) -> bool {
    writes.get(i).is_some_and(|w| {
        w.wave == wave
            && !writes
                .iter()
                .take(i)
                .any(|p| p.disk == w.disk && p.wave == wave)
    })
}

/// The write after `index` in `writes` that goes to the same disk in the same wave.
fn next_on_disk(writes: &[DiskWrite], index: usize) -> Option<usize> {
    let w = writes.get(index)?;
    let (disk, wave) = (w.disk, w.wave);
    writes
        .iter()
        .enumerate()
        .skip(index.saturating_add(1))
        .find(|(_, w)| w.disk == disk && w.wave == wave)
        .map(|(j, _)| j)
}

/// Writes the chain starting at `first` (it and every later write to the same disk)
/// synchronously, in list order, reporting each.
fn write_chain_sync<'d>(
    buf: &[u8],
    writes: &[DiskWrite],
    first: usize,
    disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
    done: &mut impl FnMut(usize, bool),
) {
    let mut index = first;
    while let Some(w) = writes.get(index) {
        let ok = write_one(buf, w, disk_of);
        done(index, ok);
        if !ok {
            fail_rest_of_chain(writes, index, done);
            return;
        }
        match next_on_disk(writes, index) {
            Some(next) => index = next,
            None => break,
        }
    }
}

/// A disk's chain stops at its first failed write: the writes after it are reported failed
/// and never issued. A later write of a chain closes what the earlier ones opened (an
/// IMSM anchor over its extended sectors, a DDF primary header over its sections), and
/// closing over a body that did not land would make a torn copy look whole.
fn fail_rest_of_chain(writes: &[DiskWrite], failed: usize, done: &mut impl FnMut(usize, bool)) {
    let mut index = failed;
    while let Some(next) = next_on_disk(writes, index) {
        done(next, false);
        index = next;
    }
}

/// The calling thread's errno, read directly: `io::Error::last_os_error()` builds an
/// `io::Error`, whose drop glue has a branch that frees a boxed custom error. It is never
/// taken for an OS error, but the branch is there, and the monitor thread must not reach
/// `free` (`cargo xtask audit`).
/// Waits for at least one of `in_flight` requests of `ctx` to complete and stores the
/// completions in `events`; how many, or None if the kernel refused the call (cannot happen
/// with valid arguments). An interrupted wait is resumed.
fn reap(ctx: u64, in_flight: usize, events: &mut [IoEvent; MAX_CHAINS]) -> Option<usize> {
    loop {
        // SAFETY: `events` has room for `in_flight` (≤ MAX_CHAINS) events; a null timeout
        // waits until at least one request completed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_io_getevents,
                ctx as libc::c_ulong,
                1 as libc::c_long,
                in_flight.min(MAX_CHAINS) as libc::c_long,
                events.as_mut_ptr(),
                core::ptr::null_mut::<libc::timespec>(),
            )
        };
        if n >= 0 {
            return Some((n as usize).min(MAX_CHAINS));
        }
        if errno() != libc::EINTR {
            return None;
        }
    }
}

/// A cache flush of the disk behind `fd`, synchronously (where AIO did not take it).
fn flush_now(fd: i32) -> bool {
    // SAFETY: fdatasync on a descriptor the disk table owns.
    unsafe { libc::fdatasync(fd) == 0 }
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for as long
    // as the thread lives.
    unsafe { *libc::__errno_location() }
}

impl Drop for MetadataWriter {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx {
            // SAFETY: destroys our own context (it waits for requests still in flight).
            unsafe { libc::syscall(libc::SYS_io_destroy, ctx as libc::c_ulong) };
        }
    }
}

fn write_one<'d>(
    buf: &[u8],
    w: &DiskWrite,
    disk_of: &impl Fn(u32) -> Option<&'d MetadataDisk>,
) -> bool {
    let bytes = buf.get(w.buf_start..w.buf_start.saturating_add(w.len));
    match (bytes, disk_of(w.disk)) {
        (Some(bytes), Some(disk)) => disk.write_at(bytes, w.offset),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn disk_file(tag: &str, id: u32) -> (std::path::PathBuf, MetadataDisk) {
        let path = std::env::temp_dir().join(format!(
            "mdmon-writer-{}-{tag}-{id}.img",
            std::process::id()
        ));
        std::fs::write(&path, vec![0u8; 64 * 1024]).unwrap();
        let disk = MetadataDisk::open(&path, id, 0, id).unwrap();
        (path, disk)
    }

    fn w(disk: u32, offset: u64, buf_start: usize, len: usize) -> DiskWrite {
        DiskWrite {
            disk,
            offset,
            buf_start,
            len,
            wave: 0,
        }
    }

    /// Both writers put the same bytes in the same places, keep each disk's writes in list
    /// order (the later of two writes to one sector wins), and report a write to an
    /// unknown disk as failed without stopping the others.
    fn check(mut writer: MetadataWriter, tag: &str) {
        let (pa, a) = disk_file(tag, 1);
        let (pb, b) = disk_file(tag, 2);
        let mut buf = AlignedBuf::new(4 * 4096).unwrap();
        for (i, chunk) in buf.as_mut_slice().chunks_mut(4096).enumerate() {
            chunk.fill(b'a' + i as u8);
        }
        // Disk 1: sector 8 gets 'a' then 'b' (order matters); disk 2: 'c' at 0 and 'd' at
        // 4096. Disk 9 does not exist.
        let writes = [
            w(1, 8 * 512, 0, 4096),
            w(2, 0, 2 * 4096, 4096),
            w(9, 0, 0, 4096),
            w(1, 8 * 512, 4096, 4096),
            w(2, 4096, 3 * 4096, 4096),
        ];
        let disks = [&a, &b];
        let mut results = [None; 5];
        for _ in 0..20 {
            results = [None; 5];
            writer.write_all(
                buf.as_slice(),
                &writes,
                false,
                |id| disks.iter().find(|d| d.id == id).copied(),
                |i, ok| {
                    assert!(results[i].is_none(), "write {i} reported twice");
                    results[i] = Some(ok);
                },
            );
        }
        assert_eq!(
            results,
            [Some(true), Some(true), Some(false), Some(true), Some(true)]
        );
        let read = |p: &std::path::Path| {
            let mut v = Vec::new();
            std::fs::File::open(p).unwrap().read_to_end(&mut v).unwrap();
            v
        };
        let da = read(&pa);
        assert!(da[4096..8192].iter().all(|&x| x == b'b'), "disk 1 order");
        assert!(da[..4096].iter().all(|&x| x == 0));
        let db = read(&pb);
        assert!(db[..4096].iter().all(|&x| x == b'c'));
        assert!(db[4096..8192].iter().all(|&x| x == b'd'));
        let _ = std::fs::remove_file(pa);
        let _ = std::fs::remove_file(pb);
    }

    #[test]
    fn a_joining_disk_hands_over_only_a_larger_buffer() {
        let (path, mut disk) = disk_file("swap", 3);
        let mut current = AlignedBuf::new(2 * 4096).unwrap();
        current.as_mut_slice()[0] = 7;
        disk.exchange_sync_buf(&mut current);
        assert_eq!(current.len(), 2 * 4096, "no buffer: nothing changes");
        disk.sync_buf = Some(AlignedBuf::new(4096).unwrap());
        disk.exchange_sync_buf(&mut current);
        assert_eq!(current.len(), 2 * 4096, "a smaller one is not taken");
        disk.sync_buf = Some(AlignedBuf::new(8 * 4096).unwrap());
        disk.exchange_sync_buf(&mut current);
        assert_eq!(current.len(), 8 * 4096);
        let kept = disk.sync_buf.as_ref().unwrap();
        assert_eq!(
            (kept.len(), kept.as_slice()[0]),
            (2 * 4096, 7),
            "the old one stays"
        );
        let _ = std::fs::remove_file(path);
    }

    /// Both writers finish every write of a wave before the next wave starts, whatever the
    /// list order; a disk's writes in a wave stay in list order.
    fn check_waves(mut writer: MetadataWriter, tag: &str) {
        let (pa, a) = disk_file(tag, 11);
        let (pb, b) = disk_file(tag, 12);
        let buf = AlignedBuf::new(4096).unwrap();
        let wave = |mut x: DiskWrite, n: u8| {
            x.wave = n;
            x
        };
        let writes = [
            wave(w(12, 0, 0, 4096), 1),
            wave(w(11, 0, 0, 4096), 0),
            wave(w(12, 4096, 0, 4096), 1),
            wave(w(11, 4096, 0, 4096), 0),
        ];
        let disks = [&a, &b];
        let mut order = Vec::new();
        writer.write_all(
            buf.as_slice(),
            &writes,
            false,
            |id| disks.iter().find(|d| d.id == id).copied(),
            |i, ok| {
                assert!(ok);
                order.push(i);
            },
        );
        assert_eq!(
            order,
            [1, 3, 0, 2],
            "wave 0 (disk 11) first, each in list order"
        );
        let _ = std::fs::remove_file(pa);
        let _ = std::fs::remove_file(pb);
    }

    /// A disk's chain stops at its first failed write, in both writers: what follows is
    /// reported failed and never lands; other disks go on.
    fn check_chain_stops(mut writer: MetadataWriter, tag: &str) {
        let (pa, a) = disk_file(tag, 21);
        let (pb, b) = disk_file(tag, 22);
        let mut buf = AlignedBuf::new(4096).unwrap();
        buf.as_mut_slice().fill(b'x');
        let writes = [
            // Its bytes lie outside the buffer: cannot be issued.
            w(21, 0, 8192, 4096),
            w(22, 0, 0, 4096),
            w(21, 4096, 0, 4096),
        ];
        let disks = [&a, &b];
        let mut results = [None; 3];
        writer.write_all(
            buf.as_slice(),
            &writes,
            false,
            |id| disks.iter().find(|d| d.id == id).copied(),
            |i, ok| results[i] = Some(ok),
        );
        assert_eq!(results, [Some(false), Some(true), Some(false)]);
        let da = std::fs::read(&pa).unwrap();
        assert!(
            da.iter().all(|&x| x == 0),
            "nothing after the failed write landed"
        );
        let db = std::fs::read(&pb).unwrap();
        assert!(db[..4096].iter().all(|&x| x == b'x'));
        let _ = std::fs::remove_file(pa);
        let _ = std::fs::remove_file(pb);
    }

    #[test]
    fn both_writers_stop_a_chain_at_its_first_failed_write() {
        check_chain_stops(MetadataWriter::new(), "stop-aio");
        check_chain_stops(MetadataWriter::synchronous(), "stop-sync");
    }

    /// With `preflush`, a disk whose cache flush fails gets none of its writes issued (they
    /// are reported failed), while the others are flushed and written. /dev/null takes
    /// writes but has no fsync: the flush is what fails there.
    fn check_preflush(mut writer: MetadataWriter, tag: &str) {
        let (pa, a) = disk_file(tag, 31);
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let b = MetadataDisk::from_fd(null.into(), 32, 1, 3);
        let mut buf = AlignedBuf::new(4096).unwrap();
        buf.as_mut_slice().fill(b'f');
        let writes = [w(31, 0, 0, 4096), w(32, 0, 0, 4096)];
        let disks = [&a, &b];
        for (preflush, want) in [
            (false, [Some(true), Some(true)]),
            (true, [Some(true), Some(false)]),
        ] {
            let mut results = [None; 2];
            writer.write_all(
                buf.as_slice(),
                &writes,
                preflush,
                |id| disks.iter().find(|d| d.id == id).copied(),
                |i, ok| results[i] = Some(ok),
            );
            assert_eq!(results, want, "{tag}: preflush {preflush}");
        }
        assert!(std::fs::read(&pa).unwrap()[..4096]
            .iter()
            .all(|&x| x == b'f'));
        let _ = std::fs::remove_file(pa);
    }

    #[test]
    fn both_writers_flush_first_and_skip_a_disk_that_cannot_flush() {
        check_preflush(MetadataWriter::new(), "flush-aio");
        check_preflush(MetadataWriter::synchronous(), "flush-sync");
    }

    #[test]
    fn both_writers_write_wave_after_wave() {
        check_waves(MetadataWriter::new(), "waves-aio");
        check_waves(MetadataWriter::synchronous(), "waves-sync");
    }

    #[test]
    fn parallel_writer_writes_every_disk_in_list_order() {
        let writer = MetadataWriter::new();
        assert!(writer.is_parallel(), "io_setup refused here");
        check(writer, "aio");
    }

    #[test]
    fn synchronous_writer_does_the_same() {
        check(MetadataWriter::synchronous(), "sync");
    }

    /// More disks than AIO chains: the chains beyond MAX_CHAINS are written synchronously,
    /// still in list order per disk, and every write is reported exactly once.
    #[test]
    fn disks_beyond_the_chains_are_written_in_order_too() {
        let n = MAX_CHAINS + 2;
        let files: Vec<_> = (0..n as u32).map(|id| disk_file("many", id)).collect();
        let mut buf = AlignedBuf::new(2 * 4096).unwrap();
        buf.as_mut_slice()[..4096].fill(b'x');
        buf.as_mut_slice()[4096..].fill(b'y');
        // Each disk: 'x' then 'y' to the same place; the later one must win.
        let mut writes = Vec::new();
        for id in 0..n as u32 {
            writes.push(w(id, 0, 0, 4096));
        }
        for id in 0..n as u32 {
            writes.push(w(id, 0, 4096, 4096));
        }
        let mut writer = MetadataWriter::new();
        assert!(writer.is_parallel(), "io_setup refused here");
        let mut reported = vec![0u32; writes.len()];
        writer.write_all(
            buf.as_slice(),
            &writes,
            false,
            |id| files.get(id as usize).map(|(_, d)| d),
            |i, ok| {
                assert!(ok, "write {i} failed");
                reported[i] += 1;
            },
        );
        assert!(reported.iter().all(|&c| c == 1), "{reported:?}");
        for (path, _) in &files {
            let bytes = std::fs::read(path).unwrap();
            assert!(bytes[..4096].iter().all(|&x| x == b'y'), "{path:?}");
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn slot_list_refuses_beyond_its_capacity_and_chains_follow_the_disk() {
        let mut l = SlotList::new();
        for s in 0..MAX_CHAINS {
            assert!(l.push(s));
        }
        assert!(!l.push(0));
        assert_eq!(l.as_slice().len(), MAX_CHAINS);
        let writes = [w(1, 0, 0, 1), w(2, 0, 0, 1), w(1, 0, 0, 1), w(3, 0, 0, 1)];
        assert_eq!(next_on_disk(&writes, 0), Some(2));
        assert_eq!(next_on_disk(&writes, 1), None);
        assert_eq!(next_on_disk(&writes, 2), None);
        assert_eq!(next_on_disk(&writes, 9), None);
    }
}
