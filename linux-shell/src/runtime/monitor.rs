//! The monitor thread: poll the pre-opened sysfs fds, run the core's decisions, write the
//! metadata, then tell the kernel. Nothing on this path allocates, opens a file, or blocks
//! anywhere but in `poll` (docs/monitor.md, "What the monitor may do"); `cargo xtask audit`
//! checks the compiled code.
//!
//! Records arrive from the manager as boxes and go back as boxes: the monitor only moves
//! them, never frees them.

use super::disk::{AlignedBuf, MetadataDisk, MetadataWriter};
use super::sysfs_fd::ATTR_BUF;
use super::wake::Wake;
use super::{
    ArrayBundle, ArrayEvent, DiskErrors, FromMonitor, Shared, ToMonitor, MAX_ARRAYS, QUEUE_LEN,
};
use heapless::spsc::{Consumer, Producer};
use mdmon_core::handler::ddf::DdfMetadata;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::{ContainerMetadata, DiskWrite, MAX_DISK_WRITES};
use mdmon_core::monitor::{
    failures_to_propagate, read_and_act_bb, reconcile_bad_blocks, wants_reconcile, ArrayRecord,
    MemberObservation, MetadataSynced, MonitorHandler, Observation, Reconciled, SysfsWrite,
    BAD_BLOCK_LIST_BYTES, MAX_MEMBERS,
};
use mdmon_core::sysfs::{
    self, ArrayState, BadBlockBatch, DiskState, SyncAction, BAD_BLOCK_LINE_MAX,
};
use std::sync::atomic::Ordering;

/// Member disks of one container the monitor writes to (IMSM's disk table holds up to 64).
pub const MAX_DISKS: usize = 64;

/// Upper bound of fds in one poll: the wake fd plus, per array, three array attributes and
/// one state file per member.
const MAX_POLL_FDS: usize = 1 + MAX_ARRAYS * (3 + MAX_MEMBERS);

/// Everything the monitor thread owns.
pub struct Monitor<'q, H: ContainerMetadata> {
    /// Boxed: a DDF container is about 337 KB, far more than belongs on a stack.
    pub meta: Box<H>,
    pub sync_buf: AlignedBuf,
    /// Issues a sync's writes to all member disks at once (AIO context set up by the
    /// manager; see `disk::MetadataWriter`).
    pub writer: MetadataWriter,
    pub disks: heapless::Vec<Box<MetadataDisk>, MAX_DISKS>,
    pub arrays: heapless::Vec<Box<ArrayBundle>, MAX_ARRAYS>,
    pub rx: Consumer<'q, ToMonitor<H>, QUEUE_LEN>,
    /// To the manager. Nothing sent here is ever lost, however long the manager does not
    /// drain (README, "Faults and hostile conditions"): a reply is owed only for a request
    /// taken while the queue had room for it, and what the monitor sends on its own
    /// (events, records it hands back) stays in its array records until there is room.
    pub tx: Producer<'q, FromMonitor<H>, QUEUE_LEN>,
    /// This thread's wake-up fd (the manager signals it).
    pub wake: &'q Wake,
    /// A metadata sync failed: poll with a short timeout to try again.
    pub retry_soon: bool,
    /// Something waits for room in the queue to the manager (a request, an event, a record
    /// to hand back): poll with a short timeout to try again.
    pub deferred: bool,
    pub manager_wake: &'q Wake,
    pub shared: &'q Shared,
}

impl<H: ContainerMetadata> core::fmt::Debug for Monitor<'_, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Monitor")
            .field("arrays", &self.arrays.len())
            .field("disks", &self.disks.len())
            .finish_non_exhaustive()
    }
}

/// A metadata format whose monitor thread has a stable entry symbol (see
/// [`mdmon_monitor_imsm`]). The daemon starts the thread through [`Monitor::run`], which
/// goes through here, so the code `cargo xtask audit` walks is the code that runs.
pub trait MonitorEntry: ContainerMetadata + Sized {
    fn enter(monitor: Monitor<'_, Self>) -> !;
}

impl MonitorEntry for ImsmMetadata {
    fn enter(monitor: Monitor<'_, Self>) -> ! {
        mdmon_monitor_imsm(monitor)
    }
}

impl MonitorEntry for DdfMetadata {
    fn enter(monitor: Monitor<'_, Self>) -> ! {
        mdmon_monitor_ddf(monitor)
    }
}

/// The monitor thread of an IMSM container, from its first iteration on; it never returns.
///
/// This is the root `cargo xtask audit` starts from: the symbol name is fixed
/// (`no_mangle`), the function is never inlined into the thread trampoline, and it is not
/// generic, so the release binary holds exactly one copy of the monitor loop for IMSM
/// under this name. Everything the monitor thread executes after installing its seccomp
/// filter is reachable from here. Do not rename it without changing the audit.
#[no_mangle]
#[inline(never)]
pub fn mdmon_monitor_imsm(monitor: Monitor<'_, ImsmMetadata>) -> ! {
    monitor.run_loop()
}

/// The monitor thread of a DDF container; the same contract as [`mdmon_monitor_imsm`].
#[no_mangle]
#[inline(never)]
pub fn mdmon_monitor_ddf(monitor: Monitor<'_, DdfMetadata>) -> ! {
    monitor.run_loop()
}

impl<H: MonitorEntry> Monitor<'_, H> {
    /// The monitor thread's body: installs the thread's seccomp filter, then enters the
    /// format's audited entry symbol. Never returns: once SIGTERM was seen and every array
    /// is clean it reports `monitor_done` and waits for the manager to end the process.
    pub fn run(self) -> ! {
        match super::seccomp::install_for_monitor() {
            Ok(()) => {}
            Err(super::seccomp::NotInstalled::Disabled) => {
                eprintln!(
                    "mdmon: monitor thread runs without its seccomp filter (MDMON_NO_SECCOMP=1)"
                );
            }
            Err(super::seccomp::NotInstalled::Refused(errno)) => {
                // Monitoring matters more than the filter: an unmonitored array blocks its
                // writes for good.
                eprintln!(
                    "mdmon: monitor thread runs without its seccomp filter: the kernel refused it ({})",
                    std::io::Error::from_raw_os_error(errno)
                );
            }
        }
        H::enter(self)
    }
}

impl<H: ContainerMetadata> Monitor<'_, H> {
    /// The loop itself; reached only through the entry symbols above.
    #[inline(always)]
    fn run_loop(mut self) -> ! {
        loop {
            // Checked before anything could start a metadata write: once parked here, the
            // manager may end the process with nothing of ours in flight.
            if self.shared.exit_requested.load(Ordering::Acquire) {
                self.shared.monitor_parked.store(true, Ordering::Release);
                self.manager_wake.signal();
                self.park();
            }
            if self.step() {
                self.shared.monitor_done.store(true, Ordering::Release);
                self.manager_wake.signal();
                self.park();
            }
            self.shared
                .monitor_arrays
                .store(self.arrays.len(), Ordering::Release);
            self.wait();
        }
    }

    /// The monitor's work is done; the manager exits the process as soon as it sees
    /// `monitor_done`. Returning instead would free the monitor's memory on this thread
    /// and run std's thread exit (allocator, futex, munmap): calls the audit and the
    /// seccomp filter keep off this thread.
    fn park(&self) -> ! {
        loop {
            // SAFETY: no fds, so no pointer is read; sleeps until a signal or forever.
            unsafe { libc::poll(core::ptr::null_mut(), 0, -1) };
        }
    }

    /// One iteration without the wait: take the manager's messages, pass over every array,
    /// spread failures. Returns true when the monitor is finished (SIGTERM and nothing
    /// dirty).
    pub fn step(&mut self) -> bool {
        #[cfg(feature = "audit-mutant-alloc")]
        audit_mutant_alloc();
        #[cfg(feature = "audit-mutant-panic")]
        audit_mutant_panic(self.arrays.len());
        // Before `receive`: updates are applied there, and DDF stamps what they change.
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into `now`; it neither allocates nor
        // blocks (vDSO).
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) } == 0 {
            self.meta.set_time(u64::try_from(now.tv_sec).unwrap_or(0));
        }
        self.receive();
        let any_dirty = self.pass_all();
        self.propagate_failures();
        // Refused operations are counted by the handler; the manager logs them.
        let refused = self.meta.op_errors();
        if self.shared.op_errors.swap(refused, Ordering::Relaxed) != refused {
            self.manager_wake.signal();
        }
        self.shared.sigterm.load(Ordering::Acquire) && !any_dirty
    }

    /// Answers the request `receive` is handling.
    fn reply(&mut self, msg: FromMonitor<H>) {
        // SAFETY: `receive` takes a request only when `ready()` said the queue has a free
        // slot, each request is answered by at most one message, and only this thread
        // enqueues (the manager only takes messages off): that slot is still free.
        unsafe { self.tx.enqueue_unchecked(msg) };
        self.manager_wake.signal();
    }

    /// Tells the manager what array `i` decided, if anything is owed and the queue has
    /// room; otherwise it stays owed in the record (and a record handed back carries it).
    fn report(&mut self, i: usize) {
        let Some(bundle) = self.arrays.get_mut(i) else {
            return;
        };
        if !bundle.event_owed {
            return;
        }
        if !self.tx.ready() {
            self.deferred = true;
            return;
        }
        let ev = ArrayEvent::of(bundle);
        // The manager acts on the request; the record's flags are cleared so the next
        // request is reported again.
        bundle.record.check_degraded = false;
        bundle.record.check_reshape = false;
        bundle.event_owed = false;
        // SAFETY: `ready()` said a slot is free and only this thread enqueues.
        unsafe { self.tx.enqueue_unchecked(FromMonitor::Event(ev)) };
        self.manager_wake.signal();
    }

    /// Hands array `i` back to the manager if the queue has room; otherwise it stays in
    /// `arrays` (a stopped or withdrawn record is decided nothing for) and goes next pass.
    /// Returns whether it went.
    fn retire(&mut self, i: usize) -> bool {
        if !self.tx.ready() {
            self.deferred = true;
            return false;
        }
        let Some(bundle) = self.take_array(i) else {
            return false;
        };
        // SAFETY: `ready()` said a slot is free and only this thread enqueues.
        unsafe { self.tx.enqueue_unchecked(FromMonitor::Retired(bundle)) };
        self.manager_wake.signal();
        true
    }

    /// Takes the manager's requests, each only while the queue back has room for its reply
    /// (so no reply is ever lost); the rest wait in the manager's queue, which makes the
    /// manager drain before it can send more.
    fn receive(&mut self) {
        while self.tx.ready() {
            let Some(msg) = self.rx.dequeue() else {
                return;
            };
            match msg {
                ToMonitor::Array(bundle) => self.adopt(bundle),
                ToMonitor::Updates(mut batch) => {
                    for update in batch.drain(..) {
                        let mut records: heapless::Vec<&mut ArrayRecord, MAX_ARRAYS> =
                            heapless::Vec::new();
                        for a in self.arrays.iter_mut() {
                            let _ = records.push(&mut a.record);
                        }
                        self.meta.process_update(update, &mut records);
                    }
                    self.reply(FromMonitor::Handled(batch));
                    // A failed write stays pending; the next pass writes it again. A second
                    // sync writes what the first one made ready, a deleted DDF VD's entry
                    // once its records are off the disks (docs/ddf.md, "Deleting a VD"),
                    // before mdadm's ping barrier returns; otherwise it has nothing to do.
                    let _ = self.sync_metadata();
                    let _ = self.sync_metadata();
                }
                ToMonitor::Disk(mut disk) => {
                    // It may bring a larger sync buffer for the grown container (it comes
                    // before the update that adds it to the metadata).
                    disk.exchange_sync_buf(&mut self.sync_buf);
                    if let Err(disk) = self.disks.push(disk) {
                        self.reply(FromMonitor::Disk(disk));
                    }
                }
                ToMonitor::Snapshot(mut snap) => {
                    self.meta.snapshot_into(&mut snap);
                    self.reply(FromMonitor::Snapshot(snap));
                }
                ToMonitor::MemberRemoved { devnm, kname } => {
                    if let Some(a) = self.arrays.iter_mut().find(|a| a.devnm == devnm) {
                        if let Some(i) = a.members.iter().position(|m| m.kname == kname) {
                            // Dropping the fds closes them; no memory is freed. `retain`
                            // keeps both lists parallel without `remove`'s panic path.
                            remove_at(&mut a.members, i);
                            remove_at(&mut a.record.members, i);
                        }
                    }
                }
            }
        }
        // The queue back is full: requests wait for the manager to drain it.
        if self.rx.ready() {
            self.deferred = true;
        }
    }

    /// The reply to an `Array` request: at most one record goes back (the replaced one,
    /// with any event it still owed, or the new one when there is no room).
    fn adopt(&mut self, bundle: Box<ArrayBundle>) {
        if let Some(slot) = self.arrays.iter_mut().find(|a| a.devnm == bundle.devnm) {
            let old = core::mem::replace(slot, bundle);
            self.reply(FromMonitor::Retired(old));
        } else if let Err(b) = self.arrays.push(bundle) {
            // No room: hand it back; the manager logs that the array is not monitored.
            self.reply(FromMonitor::Retired(b));
        }
    }

    /// `swap_remove` without its panic path: the last array takes the place of array `i`.
    fn take_array(&mut self, i: usize) -> Option<Box<ArrayBundle>> {
        if i >= self.arrays.len() {
            return None;
        }
        let last = self.arrays.pop()?;
        match self.arrays.get_mut(i) {
            Some(slot) => Some(core::mem::replace(slot, last)),
            // `i` was the last one.
            None => Some(last),
        }
    }

    /// One pass over every array (returns whether any was dirty): first each array's decisions, then one metadata sync
    /// for all of them, then what the kernel is told. Deciding everything before writing
    /// anything means that what one array saw (a member now in sync) reaches the disks no
    /// later than what another saw (a member failing): DDF keeps one state per disk, and a
    /// write carrying the failure without the rebuild's end would leave both volumes with
    /// no member mdadm starts (docs/ddf.md, "Rebuilding"). It also writes the metadata
    /// once per wake-up, not once per array.
    fn pass_all(&mut self) -> bool {
        let meta = &mut *self.meta;
        for bundle in self.arrays.iter_mut() {
            let obs = observe(bundle);
            let unacked = observe_unacked(bundle, &obs);
            bundle.prev_state_before = bundle.record.prev_state;
            bundle.decided = read_and_act_bb(&mut bundle.record, &obs, &unacked, &mut *meta);
            reconcile_members(bundle, &mut *meta);
            self.retry_soon |= bundle.decided.retry_soon;
        }
        let synced = self.sync_metadata();
        let mut any_dirty = false;
        let sigterm = self.shared.sigterm.load(Ordering::Acquire);
        let mut i = 0;
        while i < self.arrays.len() {
            let (dirty, retire) = self.carry_out(i, synced.as_ref());
            any_dirty |= dirty;
            self.report(i);
            // Under SIGTERM a clean array is left alone from now on (its successor mdmon
            // owns it); a stopped array is handed back.
            if !((retire || (sigterm && !dirty)) && self.retire(i)) {
                i += 1;
            }
        }
        any_dirty
    }

    /// Tells the kernel what array `index`'s pass decided, if the metadata it needs is on
    /// disk. Returns (dirty, deactivated).
    fn carry_out(&mut self, index: usize, synced: Option<&MetadataSynced>) -> (bool, bool) {
        let Some(bundle) = self.arrays.get_mut(index) else {
            return (false, false);
        };
        let out = core::mem::take(&mut bundle.decided);
        let Some(synced) = synced else {
            // The decision stands but is not carried out: forget this pass's view so the
            // next one (soon) decides again from what the kernel shows then.
            bundle.record.prev_state = bundle.prev_state_before;
            return (true, false);
        };
        for w in out.writes(synced) {
            match w {
                SysfsWrite::ArrayState(state) => {
                    bundle.array_state.write(state.word());
                }
                SysfsWrite::Unblock(m) => {
                    if let Some(fds) = bundle.members.get(m) {
                        fds.state.write(b"-blocked");
                    }
                }
                SysfsWrite::AckBadBlock(m, bb) => {
                    if let Some(fds) = bundle.members.get(m) {
                        let mut line = [0u8; BAD_BLOCK_LINE_MAX];
                        let line = sysfs::format_bad_block(bb, &mut line);
                        let acked = fds.bad_blocks.as_ref().is_some_and(|f| f.acked.write(line));
                        if !acked {
                            // Recorded but not acknowledged: the unblock that follows must
                            // not leave the write waiting, so md stops expecting mdmon
                            // (it then fails the member on `-blocked`).
                            fds.state.write(b"-external_bbl");
                        }
                    }
                }
                SysfsWrite::DisableExternalBbl(m) => {
                    if let Some(fds) = bundle.members.get(m) {
                        fds.state.write(b"-external_bbl");
                    }
                }
            }
        }
        // Flags may also come from an update the handler applied (disks added). Owed until
        // `report` finds room; a second request before then is the same event.
        if out.wake_manager || bundle.record.check_degraded || bundle.record.check_reshape {
            bundle.event_owed = true;
        }
        (out.dirty, out.deactivated)
    }

    /// Writes what the handler marked pending to every member disk. Returns the token that
    /// allows the sysfs writes when the metadata is on disk: nothing was pending, or at
    /// least one member took every write of its chain (at assembly mdadm trusts the newest
    /// copy, so one disk holding "dirty" suffices; a disk refusing writes is about to be
    /// failed by the kernel anyway). When no disk took it because every disk written to
    /// refused it, md's own rule for superblock writes applies (docs/threads.md, "When no
    /// disk takes the metadata"): each of them is failed in its arrays, the kernel keeps
    /// the last member of each array and marks it broken, and the token is returned, as
    /// md_update_sb() releases a waiting write after its superblock writes failed; the
    /// same writes are not retried in a loop. When no write reached a disk (none is open),
    /// nothing is told to the kernel — writes keep waiting rather than proceed on an
    /// unrecorded "dirty" — and the sync is retried soon.
    fn sync_metadata(&mut self) -> Option<MetadataSynced> {
        let mut writes: heapless::Vec<DiskWrite, MAX_DISK_WRITES> = heapless::Vec::new();
        let recorded = match self.meta.sync(self.sync_buf.as_mut_slice(), &mut writes) {
            Ok(true) => {
                // All members' writes in flight at once, each disk's in the handler's order;
                // this returns when every one completed (durably: RWF_DSYNC) or failed.
                let mut failed = [false; MAX_DISK_WRITES];
                let disks = &self.disks;
                let shared = self.shared;
                let list = &writes;
                // A pass vouching for data md wrote (clean, in sync, a checkpoint) flushes
                // the members first; one that only marks arrays dirty does not.
                let preflush = self.arrays.iter().any(|b| b.decided.trusts_data);
                self.writer.write_all(
                    self.sync_buf.as_slice(),
                    list,
                    preflush,
                    |id| disks.iter().find(|d| d.id == id).map(|d| &**d),
                    |i, ok| {
                        if !ok {
                            if let Some(f) = failed.get_mut(i) {
                                *f = true;
                            }
                            shared.write_errors.fetch_add(1, Ordering::Relaxed);
                            if let Some(w) = list.get(i) {
                                let key = disks
                                    .iter()
                                    .find(|d| d.id == w.disk)
                                    .map_or(DiskErrors::id_key(w.disk), |d| {
                                        DiskErrors::dev_key(d.major, d.minor)
                                    });
                                shared.disk_write_errors.note(key);
                            }
                        }
                    },
                );
                if failed.iter().any(|&f| f) {
                    // The manager logs which disk failed (the monitor cannot format text).
                    self.manager_wake.signal();
                }
                // Recorded: some disk took every write of its chain, so it holds the whole
                // new copy. One good write of a disk whose closing write failed proves
                // nothing (README, "Crash consistency").
                let recorded = some_chain_complete(list, &failed);
                let refused = self.fail_members_whose_writes_failed(&writes, &failed);
                if !recorded {
                    self.meta.mark_unwritten();
                }
                recorded || refused
            }
            Ok(false) => true,
            Err(_) => {
                self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
                self.shared.sync_errors.fetch_add(1, Ordering::Relaxed);
                self.manager_wake.signal();
                false
            }
        };
        if recorded {
            Some(MetadataSynced::after_writes_completed())
        } else {
            self.retry_soon = true;
            None
        }
    }

    /// A member whose metadata write failed is failed in every array that uses it, as md
    /// fails a member whose superblock write fails (md_error() from super_written()): its
    /// copy is now stale or torn, and a disk that cannot take the metadata cannot be
    /// trusted with "dirty". When every member refused the copy, the kernel keeps the last
    /// working member of each array and marks the array broken (its later writes fail),
    /// as for a native array (docs/threads.md, "When no disk takes the metadata"). The
    /// next pass records the failure and the manager removes the member and looks for a
    /// spare; the manager logs the write errors with the disk's name. Returns whether a
    /// disk the monitor holds open refused a write (writes to a disk it does not hold were
    /// never issued and fail nothing).
    fn fail_members_whose_writes_failed(&self, writes: &[DiskWrite], failed: &[bool]) -> bool {
        let mut refused = false;
        for (i, w) in writes.iter().enumerate() {
            let first_failure = failed.get(i) == Some(&true)
                && !writes
                    .iter()
                    .zip(failed)
                    .take(i)
                    .any(|(o, &f)| f && o.disk == w.disk);
            if !first_failure {
                continue;
            }
            let Some(disk) = self.disks.iter().find(|d| d.id == w.disk) else {
                continue;
            };
            refused = true;
            for a in self.arrays.iter() {
                for (m, fds) in a.record.members.iter().zip(a.members.iter()) {
                    if m.major == disk.major && m.minor == disk.minor && !m.remove_requested {
                        fds.state.write(b"faulty");
                    }
                }
            }
        }
        refused
    }

    fn propagate_failures(&mut self) {
        let mut hits: heapless::Vec<(usize, usize), MAX_MEMBERS> = heapless::Vec::new();
        {
            let mut records: heapless::Vec<&ArrayRecord, MAX_ARRAYS> = heapless::Vec::new();
            for a in self.arrays.iter() {
                let _ = records.push(&a.record);
            }
            failures_to_propagate(&records, |ai, mi| {
                let _ = hits.push((ai, mi));
            });
        }
        for (ai, mi) in hits {
            if let Some(fds) = self.arrays.get(ai).and_then(|a| a.members.get(mi)) {
                fds.state.write(b"faulty");
            }
        }
    }

    fn wait(&mut self) {
        let mut fds = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; MAX_POLL_FDS];
        let mut n = 0;
        let mut add = |fd: i32, events: i16| {
            if let Some(slot) = fds.get_mut(n) {
                *slot = libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                };
                n += 1;
            }
        };
        add(self.wake.raw(), libc::POLLIN);
        let except = libc::POLLPRI | libc::POLLERR;
        for a in self.arrays.iter() {
            // A deleted sysfs node reports POLLERR forever: skip it (docs/monitor.md, "Files
            // and waiting").
            if a.array_state.alive() {
                add(a.array_state.raw(), except);
            }
            for attr in [&a.sync_action, &a.sync_completed].into_iter().flatten() {
                if attr.alive() {
                    add(attr.raw(), except);
                }
            }
            for (m, fds) in a.record.members.iter().zip(a.members.iter()) {
                if !m.remove_requested && fds.state.alive() {
                    add(fds.state.raw(), except);
                }
            }
        }
        // Retry soon while messages wait for room (the manager also wakes us when it has
        // drained) or a sync failed; otherwise sleep until something happens (no periodic
        // wake-ups at all when idle).
        let timeout = if self.deferred || self.retry_soon {
            20
        } else {
            -1
        };
        self.retry_soon = false;
        self.deferred = false;
        self.shared.loop_count.fetch_or(1, Ordering::AcqRel);
        // SAFETY: `fds[..n]` are initialised pollfd structs on our stack.
        unsafe { libc::poll(fds.as_mut_ptr(), n as libc::nfds_t, timeout) };
        self.shared.loop_count.fetch_add(1, Ordering::AcqRel);
        self.wake.drain();
    }
}

// Deliberate defects for `cargo xtask audit --self-test`, which must reject a binary built
// with either (linux-shell/Cargo.toml). They refuse to compile unless the self-test's
// environment variable is set, so no ordinary build (`--all-features` included) can ship
// one.
#[cfg(any(feature = "audit-mutant-alloc", feature = "audit-mutant-panic"))]
const _: () = assert!(
    option_env!("MDMON_AUDIT_MUTANT").is_some(),
    "audit-mutant-* features are for `cargo xtask audit --self-test` only"
);

/// Allocates on every monitor iteration (mutant).
#[cfg(feature = "audit-mutant-alloc")]
#[inline(never)]
fn audit_mutant_alloc() {
    let b = Box::new(core::hint::black_box(0u64));
    core::hint::black_box(&b);
}

/// Can panic on every monitor iteration (mutant); black_box keeps the compiler from
/// proving it never does.
#[cfg(feature = "audit-mutant-panic")]
#[inline(never)]
fn audit_mutant_panic(arrays: usize) {
    if core::hint::black_box(arrays) > MAX_ARRAYS {
        panic!("audit mutant: {arrays} arrays");
    }
}

/// Removes element `i`, keeping the order, through `retain` (heapless' `remove` asserts
/// the index, which would put a panic on the monitor path).
/// Whether some disk of `writes` had none of its writes fail (`failed[i]` for write `i`).
fn some_chain_complete(writes: &[DiskWrite], failed: &[bool]) -> bool {
    writes.iter().any(|w| {
        !writes
            .iter()
            .zip(failed.iter())
            .any(|(o, &f)| f && o.disk == w.disk)
    })
}

fn remove_at<T, const N: usize>(v: &mut heapless::Vec<T, N>, i: usize) {
    let mut k = 0;
    v.retain(|_| {
        k += 1;
        k - 1 != i
    });
}

/// Room for the unacknowledged lists of one pass: members that can be blocked on bad blocks
/// at once (each list is small; see `sysfs::BAD_BLOCKS_PER_PASS`).
type Unacked = heapless::Vec<(usize, BadBlockBatch), MAX_MEMBERS>;

/// Reads `unacknowledged_bad_blocks` of every member whose state shows `external_bbl` and
/// `blocked` (docs/monitor.md, "Bad blocks"): one read from offset 0; lines cut by the buffer
/// wait for the next pass, which comes soon (`retry_soon`) once the complete ones are
/// acknowledged.
fn observe_unacked(a: &ArrayBundle, obs: &Observation) -> Unacked {
    let mut out = Unacked::new();
    let wanted = DiskState::EXTERNAL_BBL | DiskState::BLOCKED;
    for (i, (seen, fds)) in obs.members.iter().zip(a.members.iter()).enumerate() {
        let Some(state) = seen.state else { continue };
        if !state.contains(wanted) || state.contains(DiskState::FAULTY) {
            continue;
        }
        let mut buf = [0u8; 8 * BAD_BLOCK_LINE_MAX];
        let batch = fds
            .bad_blocks
            .as_ref()
            .and_then(|f| f.unacked.read_raw(&mut buf))
            .map_or_else(BadBlockBatch::unreadable, BadBlockBatch::parse);
        let _ = out.push((i, batch));
    }
    out
}

/// Brings each `external_bbl` member's bad-block log in line with md's `bad_blocks` list
/// (docs/monitor.md, "Bad blocks", *Reconciling*), after the pass recorded what md has not
/// acknowledged yet. One read per member from offset 0 into a page-sized buffer (md prints
/// the list into one page); changes go out with this pass's metadata sync. A range that
/// cannot be recorded turns `external_bbl` off for the member, as a refused acknowledgement
/// does. An unreadable file reconciles nothing. A member this pass acknowledged ranges for,
/// or turned `external_bbl` off for, waits for the next pass: md's list changes with them.
fn reconcile_members<H: MonitorHandler>(bundle: &mut ArrayBundle, meta: &mut H) {
    for i in 0..bundle.members.len() {
        let decided = &bundle.decided;
        if !wants_reconcile(&bundle.record, i)
            || decided.acks.iter().any(|&(m, _)| m == i)
            || decided.disable_bbl.contains(&i)
        {
            continue;
        }
        let mut buf = [0u8; BAD_BLOCK_LIST_BYTES];
        let Some(text) = bundle
            .members
            .get(i)
            .and_then(|fds| fds.bad_blocks.as_ref())
            .and_then(|f| f.acked.read_raw(&mut buf))
        else {
            continue;
        };
        if reconcile_bad_blocks(&mut bundle.record, i, text, meta) == Reconciled::DisableExternalBbl
        {
            let _ = bundle.decided.disable_bbl.push(i);
        }
    }
}

/// Reads everything one pass needs from an array's fds.
fn observe(a: &ArrayBundle) -> Observation {
    let mut buf = [0u8; ATTR_BUF];
    let array_state = a
        .array_state
        .read(&mut buf)
        .map_or(ArrayState::Unknown, ArrayState::parse);
    let sync_action = a
        .sync_action
        .as_ref()
        .and_then(|f| f.read(&mut buf).map(SyncAction::parse))
        .unwrap_or(SyncAction::Unknown);
    let resync_start = if array_state == ArrayState::Clear {
        None
    } else {
        a.resync_start
            .as_ref()
            .and_then(|f| f.read(&mut buf).and_then(sysfs::parse_sector_or_none))
    };
    let component_size = if array_state == ArrayState::Clear {
        None
    } else {
        a.component_size
            .as_ref()
            .and_then(|f| f.read(&mut buf).and_then(sysfs::parse_component_size))
    };
    let sync_completed = a
        .sync_completed
        .as_ref()
        .and_then(|f| f.read(&mut buf).map(sysfs::parse_sync_completed))
        .unwrap_or(0);
    let blocked = array_state == ArrayState::Readonly
        && a.metadata_version
            .read(&mut buf)
            .is_none_or(sysfs::metadata_version_blocked);
    let reshape_finished = if a.record.wants_reshape_position() {
        a.reshape_position
            .as_ref()
            .and_then(|f| f.read(&mut buf).map(|t| t.starts_with(b"none")))
    } else {
        None
    };
    let mut members = heapless::Vec::new();
    for (m, fds) in a.record.members.iter().zip(a.members.iter()) {
        let seen = if m.remove_requested {
            MemberObservation::default()
        } else {
            MemberObservation {
                state: fds.state.read(&mut buf).map(DiskState::parse),
                recovery_start: fds
                    .recovery_start
                    .read(&mut buf)
                    .and_then(sysfs::parse_sector_or_none),
            }
        };
        let _ = members.push(seen);
    }
    Observation {
        array_state,
        sync_action,
        resync_start,
        component_size,
        sync_completed,
        blocked,
        reshape_finished,
        members,
    }
}

#[cfg(test)]
mod recorded_tests {
    use super::*;

    fn w(disk: u32) -> DiskWrite {
        DiskWrite {
            disk,
            offset: 0,
            buf_start: 0,
            len: 512,
            wave: 0,
        }
    }

    #[test]
    fn recorded_means_one_disk_took_its_whole_chain() {
        // Disks 1 and 2 each write twice; the closing write of each fails.
        let writes = [w(1), w(2), w(1), w(2)];
        assert!(!some_chain_complete(&writes, &[false, false, true, true]));
        assert!(some_chain_complete(&writes, &[false, false, true, false]));
        assert!(some_chain_complete(&writes, &[false; 4]));
        assert!(!some_chain_complete(&writes, &[true; 4]));
    }
}
