//! The DDF adapter (`handler::ddf::DdfMetadata`) driven the way the monitor thread drives it:
//! `monitor::read_and_act` with sysfs observations, then `ContainerMetadata::sync`, on the
//! real DDF fixtures the rig captured (Debian mdadm 4.2 + the C mdmon). The produced writes
//! are applied to copies of the captured disk tails, the container is loaded again from
//! them, and the result is compared with what the C mdmon wrote for the same transition.

mod common;

use common::{Fixture, FixtureDisk};
use mdmon_core::ddf::layout::UNUSED_REFNUM;
use mdmon_core::ddf::model::{read_header_set, VD_NOT_CONSISTENT};
use mdmon_core::ddf::{Container, DiskId, MemberInput, PdState, VdState};
use mdmon_core::handler::ddf::{disk_id, DdfMetadata, DISK_STRIDE_ALIGN};
use mdmon_core::handler::{ContainerMetadata, DiskWrite, SyncError, MAX_DISK_WRITES};
use mdmon_core::monitor::{
    read_and_act, ArrayRecord, Member, MemberObservation, Observation, MAX_MEMBERS,
};
use mdmon_core::sysfs::{ArrayState, DiskState, SyncAction, MAX_SECTOR};
use std::sync::OnceLock;

fn fixtures() -> &'static [Fixture] {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    ALL.get_or_init(|| common::load_all("ddf"))
}

fn fixture(moment: &str) -> Option<&'static Fixture> {
    let f = fixtures().iter().find(|f| f.moment == moment);
    if f.is_none() {
        eprintln!("fixture {moment} missing; test skipped");
    }
    f
}

/// `sdX` → its SCSI disk device number (sda = 8:0, sdb = 8:16, ...): the rig's disks.
fn dev_of_name(name: &str) -> (u32, u32) {
    let letter = name.as_bytes()[2] - b'a';
    (8, 16 * u32::from(letter))
}

fn id_of_name(name: &str) -> DiskId {
    let (ma, mi) = dev_of_name(name);
    disk_id(ma, mi).unwrap()
}

/// Copies of a fixture's disk tails, addressed by the adapter's disk ids.
struct Disks {
    disks: Vec<(DiskId, FixtureDisk)>,
}

impl Disks {
    fn of(f: &Fixture) -> Disks {
        Disks {
            disks: f
                .disks
                .iter()
                .map(|d| (id_of_name(&d.name), d.clone()))
                .collect(),
        }
    }

    fn inputs(&self) -> Vec<MemberInput<'_>> {
        self.disks
            .iter()
            .map(|(id, d)| MemberInput {
                id: *id,
                disk_bytes: d.size,
                sector_size: d.sector,
                tail: &d.region,
            })
            .collect()
    }

    fn get(&self, name: &str) -> &FixtureDisk {
        &self.disks.iter().find(|(_, d)| d.name == name).unwrap().1
    }

    /// Applies the writes of one sync (offsets are absolute disk bytes).
    fn apply(&mut self, buf: &[u8], writes: &[DiskWrite]) {
        for w in writes {
            let (_, d) = self
                .disks
                .iter_mut()
                .find(|(id, _)| id.0 == u64::from(w.disk))
                .unwrap_or_else(|| panic!("write to unknown disk {:#x}", w.disk));
            let rel = (w.offset - d.region_offset) as usize;
            d.region[rel..rel + w.len].copy_from_slice(&buf[w.buf_start..w.buf_start + w.len]);
        }
    }

    fn load(&self) -> Box<Container> {
        let mut c = Box::new(Container::new());
        c.load(&self.inputs()).expect("reload after our writes");
        c
    }
}

/// The adapter loaded from a fixture, with its sync buffer.
struct Rig {
    meta: Box<DdfMetadata>,
    disks: Disks,
    buf: Vec<u8>,
}

impl Rig {
    fn new(f: &Fixture) -> Rig {
        Rig::of(Disks::of(f))
    }

    fn of(disks: Disks) -> Rig {
        let mut meta = Box::new(DdfMetadata::new());
        meta.load(&disks.inputs(), 1_500_000_000).expect("load");
        let buf = vec![0u8; meta.sync_buffer_len()];
        Rig { meta, disks, buf }
    }

    /// A new daemon loading what this one left on the disks.
    fn reloaded(self) -> Rig {
        Rig::of(self.disks)
    }

    /// One `sync`: checks the writes' shape, applies them, returns how many there were.
    fn sync(&mut self) -> usize {
        let mut writes = heapless::Vec::<DiskWrite, MAX_DISK_WRITES>::new();
        let wrote = self.meta.sync(&mut self.buf, &mut writes).expect("sync");
        if !wrote {
            assert!(writes.is_empty());
            return 0;
        }
        let stride = self.meta.disk_stride();
        assert_eq!(stride % DISK_STRIDE_ALIGN, 0);
        for w in &writes {
            assert_eq!(w.offset % 512, 0, "{w:?}");
            assert_eq!(w.len % 512, 0, "{w:?}");
            assert_eq!(w.buf_start % 512, 0, "{w:?}");
            // Each disk's bytes come from its own stride of the buffer.
            let k = self
                .meta
                .container
                .disks
                .iter()
                .position(|d| d.id.0 == u64::from(w.disk))
                .unwrap();
            assert!(w.buf_start >= k * stride && w.buf_start + w.len <= (k + 1) * stride);
        }
        // mdadm's contiguous layout: 7 coalesced writes per disk, the anchor last.
        assert_eq!(writes.len(), 7 * self.meta.container.disks.len());
        self.disks.apply(&self.buf, &writes);
        writes.len()
    }
}

fn member_obs(states: &[DiskState]) -> heapless::Vec<MemberObservation, MAX_MEMBERS> {
    states
        .iter()
        .map(|s| MemberObservation {
            state: Some(*s),
            recovery_start: Some(MAX_SECTOR),
        })
        .collect()
}

fn obs(state: ArrayState, members: &[DiskState]) -> Observation {
    Observation {
        array_state: state,
        sync_action: SyncAction::Idle,
        resync_start: Some(MAX_SECTOR),
        component_size: None,
        sync_completed: 0,
        blocked: false,
        reshape_finished: None,
        members: member_obs(members),
    }
}

/// The RAID1 `r1` (VD 0, md126) of the fixtures: sda slot 0, sdb slot 1, 32 MiB per member,
/// running and clean as the monitor finds it after discovery.
fn r1() -> ArrayRecord {
    let mut a = ArrayRecord::new(0, 1, 2, 65536);
    for (slot, name) in [(0, "sda"), (1, "sdb")] {
        let (ma, mi) = dev_of_name(name);
        a.members
            .push(Member::new(slot, ma, mi, DiskState::IN_SYNC))
            .unwrap();
    }
    a.prev_state = ArrayState::Clean;
    a.curr_state = ArrayState::Clean;
    a
}

/// Byte range in `d.region` of section `(offset, length)` (sectors) of the copy at `lba`.
fn section(d: &FixtureDisk, lba: u64, offset: u32, length: u32) -> std::ops::Range<usize> {
    let start = ((lba + u64::from(offset)) * 512 - d.region_offset) as usize;
    start..start + length as usize * 512
}

fn input(d: &FixtureDisk) -> MemberInput<'_> {
    MemberInput {
        id: DiskId(0),
        disk_bytes: d.size,
        sector_size: d.sector,
        tail: &d.region,
    }
}

/// Every section of both copies of `name` except the headers (which carry the sequence,
/// timestamp and CRC of each write batch) must equal `want`'s.
fn assert_sections_equal(ours: &Disks, want: &Fixture, name: &str) {
    let o = ours.get(name);
    let w = want.disks.iter().find(|d| d.name == name).unwrap();
    let hs = read_header_set(&input(o)).unwrap();
    let ws = read_header_set(&input(w)).unwrap();
    for (label, oh, wh) in [
        ("primary", hs.primary.unwrap(), ws.primary.unwrap()),
        ("secondary", hs.secondary.unwrap(), ws.secondary.unwrap()),
    ] {
        assert_eq!(oh.primary_lba.get(), wh.primary_lba.get());
        let lba = if label == "primary" {
            oh.primary_lba.get()
        } else {
            oh.secondary_lba.get()
        };
        assert_eq!(oh.open_flag, 0, "{name} {label}: left open");
        for (what, s) in [
            ("controller", oh.controller),
            ("phys", oh.phys_records),
            ("virt", oh.virt_records),
            ("config", oh.config_records),
            ("pd_data", oh.pd_data),
        ] {
            let r = section(o, lba, s.offset.get(), s.length.get());
            if o.region[r.clone()] != w.region[r.clone()] {
                let at = o.region[r.clone()]
                    .iter()
                    .zip(&w.region[r.clone()])
                    .position(|(a, b)| a != b)
                    .unwrap();
                panic!(
                    "{name} {label} {what}: byte {at} differs from {}: ours {:02x}, C mdmon {:02x}",
                    want.moment,
                    o.region[r.start + at],
                    w.region[r.start + at]
                );
            }
        }
    }
}

#[test]
fn write_pending_marks_the_vd_not_consistent_like_the_c_mdmon() {
    let (Some(before), Some(dirty)) = (fixture("02-volumes-resynced"), fixture("03-r1-dirty"))
    else {
        return;
    };
    let mut rig = Rig::new(before);
    // mdadm's layout: 5 header sectors, controller, 128 PD + 32 VD sectors, 65 × 7 config
    // sectors, PD data (the figure the adapter's documentation quotes).
    assert_eq!(rig.meta.container.image_len(), 622 * 512);
    assert_eq!(rig.meta.disk_stride(), 312 * 1024);
    let seq0 = rig.meta.container.header.seq.get();
    assert_eq!(
        rig.meta.container.vds[0].state & VD_NOT_CONSISTENT,
        0,
        "02 starts consistent"
    );
    let mut a = r1();

    // A write arrives: the kernel holds it in write-pending until `active` is written.
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::WritePending, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    assert_eq!(out.next_state, Some(ArrayState::Active));
    assert!(out.dirty);
    assert_eq!(rig.sync(), 7 * 4);
    assert_eq!(rig.meta.op_errors(), 0);

    let c = rig.disks.load();
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert_eq!(c.header.seq.get(), seq0 + 1, "one sequence step per batch");
    assert_ne!(c.vds[0].state & VD_NOT_CONSISTENT, 0, "r1 not marked dirty");
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Optimal);
    assert_eq!(c.vds[1].state & VD_NOT_CONSISTENT, 0, "r5 untouched");
    // Everything but the headers is what the C mdmon wrote for this transition.
    for d in &before.disks {
        assert_sections_equal(&rig.disks, dirty, &d.name);
    }
    // Headers: every disk stamped with our clock, anchor closed as mdadm's.
    for d in c.disks.iter() {
        assert_eq!(d.timestamp, 1_500_000_000);
    }

    // Active with nothing new: no metadata write.
    read_and_act(
        &mut a,
        &obs(ArrayState::Active, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    assert_eq!(rig.sync(), 0);

    // Idle: the monitor asks the kernel for `clean` first; metadata stays dirty.
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::ActiveIdle, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    assert_eq!(out.next_state, Some(ArrayState::Clean));
    assert_eq!(rig.sync(), 0);

    // The kernel says clean: consistent again, byte for byte what 02 held.
    rig.meta.now += 5;
    read_and_act(
        &mut a,
        &obs(ArrayState::Clean, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    assert_eq!(rig.sync(), 7 * 4);
    let c = rig.disks.load();
    assert_eq!(c.header.seq.get(), seq0 + 2);
    assert_eq!(c.vds[0].state & VD_NOT_CONSISTENT, 0, "r1 still dirty");
    for d in &before.disks {
        assert_sections_equal(&rig.disks, before, &d.name);
    }
    assert_eq!(c.disks[0].timestamp, 1_500_000_005);
}

#[test]
fn a_faulty_member_is_recorded_failed_and_the_vd_degraded() {
    let (Some(before), Some(failed)) = (fixture("02-volumes-resynced"), fixture("04-failed"))
    else {
        return;
    };
    let mut rig = Rig::new(before);
    let c0 = rig.disks.load();
    let sdb = c0.disks[c0.disk_by_id(id_of_name("sdb")).unwrap()].clone();
    let sdb_pd = usize::from(sdb.pd_index.unwrap());
    let bvd_seq0 = c0.bvd(&c0.vds[0].guid, 0).unwrap().seq();

    let mut a = r1();
    a.prev_state = ArrayState::Active;
    let faulty = DiskState::FAULTY | DiskState::BLOCKED;
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::Active, &[DiskState::IN_SYNC, faulty]),
        &mut *rig.meta,
    );
    // -blocked only after the metadata write (the caller's order), removal requested.
    assert_eq!(out.unblock.as_slice(), &[1]);
    assert!(out.wake_manager);
    assert!(a.members[1].remove_requested);
    assert!(a.check_degraded);
    assert_eq!(rig.sync(), 7 * 4);
    assert_eq!(rig.meta.op_errors(), 0);

    let c = rig.disks.load();
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert!(
        c.pd_state(sdb_pd).contains(PdState::FAILED),
        "sdb not failed"
    );
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Degraded);
    // The r5's stored state changes only in its own pass: the failure reaches it through
    // the kernel (the monitor writes `faulty` to sdb in md125, whose next pass records it).
    assert_eq!(VdState::from_byte(c.vds[1].state), VdState::Optimal);
    let bvd = c.bvd(&c.vds[0].guid, 0).unwrap();
    assert_eq!(bvd.seq(), bvd_seq0 + 1, "set_disk bumps the BVD");
    assert_eq!(bvd.fixed.timestamp.get(), 1_500_000_000);
    // The C mdmon recorded sdb Failed too (04-failed, after the rebuild onto sdd).
    let w = {
        let mut w = Box::new(Container::new());
        let disks = Disks::of(failed);
        w.load(&disks.inputs()).unwrap();
        w
    };
    let wpd = w.pd_by_refnum(sdb.refnum()).expect("04 still lists sdb");
    assert!(w.pd_state(wpd).contains(PdState::FAILED));
    assert_ne!(sdb.refnum(), UNUSED_REFNUM);

    // Same failure seen again in the next pass (member now flagged): nothing new to write.
    read_and_act(
        &mut a,
        &obs(ArrayState::Active, &[DiskState::IN_SYNC, faulty]),
        &mut *rig.meta,
    );
    assert_eq!(rig.sync(), 0);
}

#[test]
fn leaving_readonly_with_a_complete_resync_goes_read_auto_without_writes() {
    let Some(before) = fixture("02-volumes-resynced") else {
        return;
    };
    let mut rig = Rig::new(before);
    let mut a = r1();
    a.prev_state = ArrayState::Inactive;
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::Readonly, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    assert_eq!(out.next_state, Some(ArrayState::ReadAuto));
    assert_eq!(rig.sync(), 0, "nothing changed in the metadata");

    // A resync that has not started: activation records it dirty and not initialised.
    let mut a = r1();
    a.prev_state = ArrayState::Inactive;
    let mut o = obs(ArrayState::Readonly, &[DiskState::IN_SYNC; 2]);
    o.resync_start = Some(0);
    let out = read_and_act(&mut a, &o, &mut *rig.meta);
    assert_eq!(out.next_state, Some(ArrayState::Active));
    assert_eq!(rig.sync(), 7 * 4);
    let c = rig.disks.load();
    assert_ne!(c.vds[0].state & VD_NOT_CONSISTENT, 0);
    assert_eq!(c.vds[0].init_state & 0x03, 0, "not initialised");
}

#[test]
fn unknown_volume_and_small_buffer_are_errors_that_keep_changes_pending() {
    let Some(before) = fixture("02-volumes-resynced") else {
        return;
    };
    let mut rig = Rig::new(before);
    let mut a = r1();
    a.inst = 7; // no VD 7
    assert!(!mdmon_core::monitor::MonitorHandler::set_array_state(
        &mut *rig.meta,
        &mut a,
        mdmon_core::monitor::Consistency::Clean
    ));
    assert_eq!(rig.meta.op_errors(), 1);

    let mut a = r1();
    read_and_act(
        &mut a,
        &obs(ArrayState::WritePending, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    let seq = rig.meta.container.header.seq.get();
    let mut small = vec![0u8; rig.meta.disk_stride()];
    let mut writes = heapless::Vec::<DiskWrite, MAX_DISK_WRITES>::new();
    assert_eq!(
        rig.meta.sync(&mut small, &mut writes),
        Err(SyncError::BufferTooSmall)
    );
    assert!(writes.is_empty());
    assert!(rig.meta.container.updates_pending);
    // The retry writes it, with one sequence step in all.
    assert_eq!(rig.sync(), 7 * 4);
    let c = rig.disks.load();
    assert_eq!(c.header.seq.get(), seq);
    assert_ne!(c.vds[0].state & VD_NOT_CONSISTENT, 0);
}

#[test]
fn snapshot_is_an_exact_copy() {
    let Some(before) = fixture("02-volumes-resynced") else {
        return;
    };
    let mut rig = Rig::new(before);
    let mut a = r1();
    read_and_act(
        &mut a,
        &obs(ArrayState::WritePending, &[DiskState::IN_SYNC; 2]),
        &mut *rig.meta,
    );
    // A stale destination with different content is fully replaced.
    let mut snap = Box::new(Container::new());
    let other = fixture("01-container").unwrap_or(before);
    snap.load(&Disks::of(other).inputs()).unwrap();
    rig.meta.snapshot_into(&mut snap);
    let c = &rig.meta.container;
    assert_eq!(format!("{:?}", *snap), format!("{c:?}"));
    // And it writes the same bytes.
    let mut x = vec![0u8; c.image_len()];
    let mut y = vec![0u8; c.image_len()];
    for i in 0..c.disks.len() {
        assert_eq!(c.write_disk(i, &mut x), snap.write_disk(i, &mut y));
        assert_eq!(x, y);
    }
}

/// The RAID5 `r5` (VD 1, md125): sda slot 0, sdb slot 1, sdc slot 2.
fn r5() -> ArrayRecord {
    let mut a = ArrayRecord::new(1, 5, 3, 65536);
    a.layout = 2;
    for (slot, name) in [(0, "sda"), (1, "sdb"), (2, "sdc")] {
        let (ma, mi) = dev_of_name(name);
        a.members
            .push(Member::new(slot, ma, mi, DiskState::IN_SYNC))
            .unwrap();
    }
    a.prev_state = ArrayState::Clean;
    a.curr_state = ArrayState::Clean;
    a
}

fn states_of(a: &ArrayRecord) -> Vec<DiskState> {
    a.members.iter().map(|m| m.curr_state).collect()
}

/// The manager's spare choice for array `a` (its current members, none faulty) on `snap`.
fn spare_plan(
    snap: &Container,
    a: &ArrayRecord,
    buf: &mut [u8],
) -> Option<mdmon_core::ddf::ops::SparePlan> {
    use mdmon_core::ddf::ops::{ArrayInfo, ArrayMember};
    let members: Vec<ArrayMember> = a
        .members
        .iter()
        .map(|m| ArrayMember {
            slot: m.slot,
            id: disk_id(m.major, m.minor).unwrap(),
            faulty: false,
        })
        .collect();
    let info = ArrayInfo {
        vcnum: a.inst as u16,
        level: a.level,
        layout: a.layout,
        raid_disks: a.raid_disks,
        component_size: a.component_size,
        members: &members,
    };
    snap.activate_spare(&info, buf).unwrap()
}

/// 03 → 04 as the daemon would run it: sdb fails in r1, the monitor propagates the failure
/// to r5, the manager activates the spare sdd from a snapshot and queues the VD_CONF updates,
/// both arrays recover and go clean. The PD and VD tables read back from our writes equal
/// what the C mdmon left on the disks.
/// Fixture 03 (r1 dirty), then: md fails sdb, the monitor records it in r1 and r5, the
/// manager activates the spare sdd into r1 and then r5 (one update each, as the C mdmon),
/// and md adds sdd to both arrays as a recovering member.
fn sdb_failed_and_sdd_activated_in_both(before: &Fixture) -> (Rig, ArrayRecord, ArrayRecord) {
    use mdmon_core::monitor::failures_to_propagate;
    let mut rig = Rig::new(before);
    let mut r1 = r1();
    r1.prev_state = ArrayState::Active; // 03: r1 was being written
    let mut r5 = r5();
    let faulty = DiskState::FAULTY | DiskState::BLOCKED;

    // 1. md fails sdb in r1; the monitor records it, then spreads it to r5.
    read_and_act(
        &mut r1,
        &obs(ArrayState::Active, &[DiskState::IN_SYNC, faulty]),
        &mut *rig.meta,
    );
    rig.sync();
    let mut spread = Vec::new();
    failures_to_propagate(&[&r1, &r5], |a, m| spread.push((a, m)));
    assert_eq!(spread, [(1, 1)], "faulty is written to sdb in r5");
    read_and_act(
        &mut r5,
        &obs(
            ArrayState::Clean,
            &[DiskState::IN_SYNC, faulty, DiskState::IN_SYNC],
        ),
        &mut *rig.meta,
    );
    rig.sync();

    // 2. The manager removed sdb from both arrays and activates the spare, one array at a
    //    time from a fresh snapshot: like the C mdmon it waits until the monitor applied and
    //    wrote one array's update before choosing for the next (a stale snapshot would place
    //    r5's extent on sdd over r1's).
    for a in [&mut r1, &mut r5] {
        a.members.retain(|m| !m.remove_requested);
    }
    let sdd = id_of_name("sdd");
    let mut ubuf = vec![0u8; 4 * 3584];
    for which in 0..2 {
        let mut snap = Box::new(Container::new());
        rig.meta.snapshot_into(&mut snap);
        let ctx = snap.update_context().unwrap();
        let a = if which == 0 { &r1 } else { &r5 };
        let plan = spare_plan(&snap, a, &mut ubuf).unwrap();
        assert_eq!((plan.choices[0].slot, plan.choices[0].id), (1, sdd));
        let u = ctx.prepare(&ubuf[..plan.update_len]).unwrap();
        // The monitor applies the queued update and writes it.
        rig.meta.process_update(u, &mut [&mut r1, &mut r5]);
        assert!(rig.sync() > 0);
    }
    assert_eq!(rig.meta.op_errors(), 0);
    let (ma, mi) = dev_of_name("sdd");
    for a in [&mut r1, &mut r5] {
        let mut m = Member::new(1, ma, mi, DiskState::SPARE);
        m.recovery_start = 0;
        a.members.push(m).unwrap();
    }

    (rig, r1, r5)
}

/// One array's recovery onto its new member, then idle and clean.
fn recover(rig: &mut Rig, a: &mut ArrayRecord) {
    let mut o = obs(ArrayState::Active, &states_of(a));
    o.sync_action = SyncAction::Recover;
    o.sync_completed = 32768;
    read_and_act(a, &o, &mut *rig.meta);
    rig.sync();
    for m in a.members.iter_mut() {
        m.curr_state = DiskState::IN_SYNC;
    }
    let mut o = obs(ArrayState::Clean, &states_of(a));
    o.sync_completed = 0;
    read_and_act(a, &o, &mut *rig.meta);
    rig.sync();
}

#[test]
fn failure_spare_and_rebuild_through_the_adapter_match_the_c_mdmon() {
    let (Some(before), Some(after)) = (fixture("03-r1-dirty"), fixture("04-failed")) else {
        return;
    };
    let (mut rig, mut r1, mut r5) = sdb_failed_and_sdd_activated_in_both(before);

    // 3. Both recover, then go idle and clean.
    for a in [&mut r1, &mut r5] {
        recover(&mut rig, a);
    }
    assert_eq!(rig.meta.op_errors(), 0);

    let ours = rig.disks.load();
    let want = Disks::of(after).load();
    assert!(ours.findings.is_empty(), "{:?}", ours.findings);
    for i in 0..5 {
        assert_eq!(ours.pds[i], want.pds[i], "PD entry {i}");
    }
    assert_eq!(ours.phys.used_pdes, want.phys.used_pdes);
    for i in 0..3 {
        assert_eq!(
            (ours.vds[i].state, ours.vds[i].init_state),
            (want.vds[i].state, want.vds[i].init_state),
            "VD {i}"
        );
    }
    for v in want.volumes.iter() {
        let (o, w) = (ours.bvd(&v.guid, 0).unwrap(), want.bvd(&v.guid, 0).unwrap());
        let n = w.prim_count();
        assert_eq!(
            o.elements[..n],
            w.elements[..n],
            "members of {:02x?}",
            &v.guid[..]
        );
        assert!(
            o.elements == w.elements,
            "unused elements of {:02x?}",
            &v.guid[..]
        );
    }
}

/// PD state of disk `name` as the members now say (the loader picks the newest copy).
fn pd_state_of(rig: &Rig, name: &str) -> PdState {
    let c = rig.disks.load();
    let d = c
        .disk_by_id(id_of_name(name))
        .expect("disk in the container");
    let pd = c.disks[d].pd_index.expect("PD entry") as usize;
    PdState::from_bits_retain(c.pds[pd].state.get())
}

/// A spare activated into two VDs stays Rebuilding on disk until the kernel has rebuilt it
/// in both: mdadm leaves a Rebuilding disk out at assembly, so a power cut mid-rebuild
/// brings each VD back recovering onto it, never with a member that holds no data read as
/// in sync. Upstream (and this code before) set the bit for the first VD only and cleared
/// it when r1 finished, while r5 was still being rebuilt.
#[test]
fn a_spare_rebuilt_into_two_volumes_stays_rebuilding_until_both_are_done() {
    let Some(before) = fixture("03-r1-dirty") else {
        return;
    };
    let (mut rig, mut r1, mut r5) = sdb_failed_and_sdd_activated_in_both(before);
    let s = pd_state_of(&rig, "sdd");
    assert!(
        s.contains(PdState::ONLINE | PdState::REBUILDING),
        "activated in both: {s:?}"
    );
    recover(&mut rig, &mut r1);
    let s = pd_state_of(&rig, "sdd");
    assert!(
        s.contains(PdState::REBUILDING),
        "r1 rebuilt, r5 not yet: sdd must still say Rebuilding ({s:?})"
    );
    recover(&mut rig, &mut r5);
    let s = pd_state_of(&rig, "sdd");
    assert!(
        s.contains(PdState::ONLINE) && !s.contains(PdState::REBUILDING),
        "rebuilt in both: {s:?}"
    );
    assert_eq!(rig.meta.op_errors(), 0);
}

/// After sdd was rebuilt into both volumes, sda fails too: r1 is left with sdd alone and r5
/// with sdd and sdc. sdc has room for r1, but rebuilding r1 onto it would set its
/// Rebuilding bit, and mdadm then leaves it out of r5 as well: a power cut during that
/// rebuild would leave r5 with one member of three, unstartable. So no spare is chosen;
/// r1 stays degraded until a disk no other volume needs is there.
#[test]
fn a_disk_that_keeps_another_volume_startable_is_not_taken_as_a_spare() {
    let Some(before) = fixture("03-r1-dirty") else {
        return;
    };
    let (mut rig, mut r1, mut r5) = sdb_failed_and_sdd_activated_in_both(before);
    recover(&mut rig, &mut r1);
    recover(&mut rig, &mut r5);
    let faulty = DiskState::FAULTY | DiskState::BLOCKED;
    let sda = r1.members.iter().position(|m| m.slot == 0).unwrap();
    for a in [&mut r1, &mut r5] {
        let mut states = states_of(a);
        states[sda] = faulty;
        read_and_act(a, &obs(ArrayState::Active, &states), &mut *rig.meta);
        rig.sync();
        a.members.retain(|m| !m.remove_requested);
    }
    assert!(pd_state_of(&rig, "sda").contains(PdState::FAILED));
    let mut snap = Box::new(Container::new());
    rig.meta.snapshot_into(&mut snap);
    assert_eq!(r1.members.len(), 1, "r1 runs on sdd alone");
    let mut ubuf = vec![0u8; 4 * 3584];
    let plan = spare_plan(&snap, &r1, &mut ubuf);
    assert!(
        plan.is_none(),
        "sdc keeps r5 startable and must not be rebuilt into r1: {:?}",
        plan.map(|p| p.choices)
    );
}

/// r5's rebuild onto sdd is so short that no pass sees `recover` (md delayed it behind r1's
/// on the same disks and ran it between two wake-ups): sdd turning in sync must still end
/// its Rebuilding, or the next assembly leaves the disk out of both volumes.
#[test]
fn a_rebuild_no_pass_saw_still_ends_rebuilding() {
    let Some(before) = fixture("03-r1-dirty") else {
        return;
    };
    let (mut rig, mut r1, mut r5) = sdb_failed_and_sdd_activated_in_both(before);
    recover(&mut rig, &mut r1);
    // r5: idle before and after, sdd's state goes from spare to in sync.
    let o = obs(ArrayState::Active, &states_of(&r5));
    read_and_act(&mut r5, &o, &mut *rig.meta);
    rig.sync();
    for m in r5.members.iter_mut() {
        m.curr_state = DiskState::IN_SYNC;
    }
    let o = obs(ArrayState::Clean, &states_of(&r5));
    read_and_act(&mut r5, &o, &mut *rig.meta);
    rig.sync();
    let s = pd_state_of(&rig, "sdd");
    assert!(
        s.contains(PdState::ONLINE) && !s.contains(PdState::REBUILDING),
        "sdd in sync in both: {s:?}"
    );
}

/// After a restart mid-rebuild (takeover, or the next boot's mdmon) the loaded Rebuilding
/// bit stands for every VD listing the disk: it is cleared only once each has reported the
/// disk in sync.
#[test]
fn a_loaded_rebuilding_disk_stays_rebuilding_until_every_volume_reports_it() {
    let Some(before) = fixture("03-r1-dirty") else {
        return;
    };
    let (rig, mut r1, mut r5) = sdb_failed_and_sdd_activated_in_both(before);
    // A new mdmon loads what is on disk now.
    let mut rig = rig.reloaded();
    assert!(pd_state_of(&rig, "sdd").contains(PdState::REBUILDING));
    recover(&mut rig, &mut r5);
    assert!(
        pd_state_of(&rig, "sdd").contains(PdState::REBUILDING),
        "r1 has not reported sdd in sync yet"
    );
    recover(&mut rig, &mut r1);
    assert!(!pd_state_of(&rig, "sdd").contains(PdState::REBUILDING));
}

/// md reports an in-sync disk in a slot that the metadata gives to another disk, and no
/// element of the VD lists it: its data offset is unknown (not in `ArrayRecord`), so nothing
/// is recorded and the refusal is counted.
#[test]
fn an_unlisted_in_sync_disk_is_not_recorded_with_a_guessed_offset() {
    let Some(before) = fixture("02-volumes-resynced") else {
        return;
    };
    let mut rig = Rig::new(before);
    let mut a = r1();
    let (ma, mi) = dev_of_name("sdc");
    a.members[1] = Member::new(1, ma, mi, DiskState::IN_SYNC);
    mdmon_core::monitor::MonitorHandler::set_disk(&mut *rig.meta, &mut a, 1, DiskState::IN_SYNC);
    assert_eq!(rig.meta.op_errors(), 1);
    assert!(!rig.meta.container.updates_pending);
    // Faulty needs no offset: handled as upstream (nothing to record for a foreign disk).
    mdmon_core::monitor::MonitorHandler::set_disk(&mut *rig.meta, &mut a, 1, DiskState::FAULTY);
    assert_eq!(rig.meta.op_errors(), 1);
    assert_eq!(rig.sync(), 0);
}

/// A disk joins the container (PHYS add from the manager) and another leaves it (PHYS
/// remove): the sync buffer sized at start still fits, the new disk gets its metadata, the
/// removed one gets nothing more and is reported for closing.
#[test]
fn disks_joining_and_leaving_the_container() {
    use mdmon_core::ddf::update::NewDisk;
    let Some(before) = fixture("02-volumes-resynced") else {
        return;
    };
    let mut rig = Rig::new(before);
    let len_at_start = rig.buf.len();
    let size = 268_435_456u64;
    let sde = id_of_name("sde");
    let mut snap = Box::new(Container::new());
    rig.meta.snapshot_into(&mut snap);
    let add = snap
        .prepare_disk_add(&NewDisk {
            id: sde,
            disk_bytes: size,
            now: rig.meta.now,
            date: *b"20261125",
            guid_random: [1, 2, 3, 4, 5, 6, 7, 8],
            refnum_candidates: [0x1234_5678, 1, 2, 3],
        })
        .unwrap();
    let (mut r1, mut r5) = (r1(), r5());
    rig.meta.process_update(add, &mut [&mut r1, &mut r5]);
    assert!(
        r1.check_degraded && r5.check_degraded,
        "spare check after a disk add"
    );
    assert_eq!(rig.meta.container.disks.len(), 5);
    assert_eq!(rig.meta.sync_buffer_len(), len_at_start);
    rig.disks.disks.push((
        sde,
        FixtureDisk {
            name: "sde".into(),
            size,
            sector: 512,
            region_offset: size - (32 << 20),
            region: vec![0; 32 << 20],
            serial: String::new(),
            examine: String::new(),
        },
    ));
    assert_eq!(rig.sync(), 7 * 5);
    let c = rig.disks.load();
    assert_eq!(c.disks.len(), 5);
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    let pd = c.pd_by_refnum(0x1234_5678).expect("new PD entry");
    assert_eq!(
        c.disks[c.disk_by_id(sde).unwrap()].pd_index,
        Some(pd as u16)
    );

    // sdd leaves.
    let sdd = id_of_name("sdd");
    rig.meta.snapshot_into(&mut snap);
    let remove = snap.prepare_disk_remove(sdd).unwrap();
    rig.meta.process_update(remove, &mut [&mut r1, &mut r5]);
    assert_eq!(rig.meta.removed.as_slice(), &[sdd]);
    let sdd_before = rig.disks.get("sdd").region.clone();
    assert_eq!(rig.sync(), 7 * 4);
    assert!(
        rig.disks.get("sdd").region == sdd_before,
        "sdd written after removal"
    );
    rig.disks.disks.retain(|(id, _)| *id != sdd);
    let c = rig.disks.load();
    let pd = c
        .pds
        .iter()
        .position(|e| e.refnum.get() == 0xd7f5_f63c)
        .unwrap();
    assert!(c.pd_state(pd).contains(PdState::MISSING));
    assert_eq!(rig.meta.op_errors(), 0);
}
