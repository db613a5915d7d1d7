//! Replays of the rig's IMSM lifecycle: start from one captured moment, apply the handler
//! operations the C mdmon performed, and compare the resulting metadata with the next
//! captured moment (tests/vm/imsm-lifecycle.sh). Generation and checksum are left out: the
//! real mdmon wrote several times in between. Skipped while the fixtures are absent.

mod common;

use common::Fixture;
use mdmon_core::imsm::container::{Compat, Container, MemberCopy, PresentDisk};
use mdmon_core::imsm::layout::VOL_DIRTY;
use mdmon_core::imsm::model::{gather_mpb, Mpb, TailGeometry, MPB_BUF_LEN};
use mdmon_core::imsm::ops::{ds, ArrayInput, MemberInput, SyncAction, MAX_SECTOR};
use mdmon_core::imsm::update::{DiskChange, PreparedUpdate, Update, UpdateError};

fn moment(name: &str) -> Option<Fixture> {
    common::moment("imsm", name)
}

use common::serial16;

fn parse(f: &Fixture, name: &str) -> Mpb {
    let d = f.disks.iter().find(|d| d.name == name).unwrap();
    let mut buf = vec![0u8; MPB_BUF_LEN];
    let n = gather_mpb(&d.region, d.size, d.sector, &mut buf).unwrap();
    Mpb::parse(&buf[..n], d.sector).unwrap()
}

/// Load the disks with metadata; member id = position in the fixture's disk list.
fn load(f: &Fixture) -> Container {
    let copies: Vec<MemberCopy> = f
        .disks
        .iter()
        .enumerate()
        .filter(|(_, d)| d.examine.contains("Intel Raid ISM"))
        .map(|(i, d)| MemberCopy {
            member: i as u32,
            region: &d.region,
            disk_bytes: d.size,
            sector_size: d.sector,
            serial: serial16(&d.serial),
            dev: (8, 16 * i as u32),
        })
        .collect();
    Container::load(&copies, Compat::Mdadm42).unwrap()
}

fn member_of(f: &Fixture, serial: &str) -> u32 {
    f.disks.iter().position(|d| d.serial == serial).unwrap() as u32
}

fn volume_by_name(c: &Container, name: &[u8]) -> usize {
    c.mpb
        .volumes
        .iter()
        .position(|v| v.dev.name() == name)
        .unwrap()
}

/// Tracked members of volume `v` as md would report them, with `failed` slots faulty.
fn members(c: &Container, v: usize, faulty: &[usize], gone: &[usize]) -> Vec<MemberInput> {
    let vol = &c.mpb.volumes[v];
    (0..vol.map0.num_members())
        .map(|slot| {
            let idx = vol.map0.index_at(slot).unwrap();
            let dev = c.disk_by_index(idx).map_or((0, 0), |d| d.dev);
            MemberInput {
                slot: slot as u32,
                state: if faulty.contains(&slot) {
                    ds::FAULTY
                } else {
                    ds::INSYNC
                },
                recovery_start: MAX_SECTOR,
                active: !gone.contains(&slot),
                dev,
            }
        })
        .collect()
}

fn array<'a>(c: &Container, v: usize, m: &'a [MemberInput]) -> ArrayInput<'a> {
    let vol = &c.mpb.volumes[v];
    let level = vol.map0.level();
    ArrayInput {
        volume: v,
        md_level: i32::from(level),
        raid_disks: vol.map0.num_members() as u32,
        layout: if level == 10 { 0x102 } else { 0 },
        component_size: vol.map0.per_dev_array_size(),
        resync_start: MAX_SECTOR,
        curr_action: SyncAction::Idle,
        prev_action: SyncAction::Idle,
        last_checkpoint: 0,
        members: m,
    }
}

fn assert_same_metadata(ours: &Mpb, theirs: &Mpb, what: &str) {
    assert_eq!(
        ours.header.family_num.get(),
        theirs.header.family_num.get(),
        "{what}: family"
    );
    assert_eq!(
        ours.header.orig_family_num.get(),
        theirs.header.orig_family_num.get(),
        "{what}: orig family"
    );
    assert_eq!(ours.disks, theirs.disks, "{what}: disk table");
    for (a, b) in ours.volumes.iter().zip(&theirs.volumes) {
        assert_eq!(
            a,
            b,
            "{what}: volume {:?}",
            String::from_utf8_lossy(b.dev.name())
        );
    }
    assert_eq!(
        ours.volumes.len(),
        theirs.volumes.len(),
        "{what}: volume count"
    );
    assert_eq!(ours.bbm, theirs.bbm, "{what}: bbm");
}

/// 02 (both volumes clean and in sync) → 04: MDRS0002 fails in r1, mdmon propagates the
/// failure to r5, rebuilds r1 onto free space of MDRS0003 (already in r5), and finishes.
#[test]
fn failure_and_rebuild_onto_a_member_of_another_volume() {
    let (Some(before), Some(after)) = (moment("02-volumes-resynced"), moment("04-degraded")) else {
        eprintln!("fixtures 02/04 absent");
        return;
    };
    let mut c = load(&before);
    let theirs = parse(&after, "sda");
    let r1 = volume_by_name(&c, b"r1");
    let r5 = volume_by_name(&c, b"r5");
    let b_idx = c.mpb.find_disk(&serial16("MDRS0002")).unwrap() as u32;

    for v in [r1, r5] {
        let slot = c.mpb.volumes[v].map0.slot_of(b_idx).unwrap();
        let m = members(&c, v, &[slot], &[]);
        let out = c.set_disk(&array(&c, v, &m), slot, ds::FAULTY).unwrap();
        assert!(out.needs_sync);
    }
    // The failed member left both md arrays; r1 looks for a spare.
    let slot = c.mpb.volumes[r1].map0.slot_of(b_idx).unwrap();
    let m = members(&c, r1, &[], &[slot]);
    let random = theirs
        .header
        .family_num
        .get()
        .wrapping_sub(c.mpb.header.family_num.get());
    let act = c
        .activate_spare(&array(&c, r1, &m), random)
        .expect("r1 finds room on MDRS0003");
    assert_eq!(act.disks.len(), 1);
    assert_eq!(act.disks[0].member, member_of(&before, "MDRS0003"));
    c.process_update(act.update, &[r1, r5]).unwrap();
    assert!(c.is_rebuilding(r1));
    // Recovery completes: the new member reports in_sync.
    let m = members(&c, r1, &[], &[]);
    c.set_disk(&array(&c, r1, &m), slot, ds::INSYNC).unwrap();
    assert!(!c.is_rebuilding(r1));
    assert_same_metadata(&c.mpb, &theirs, "02->04");
}

/// In fixture 04: the failed MDRS0002 leaves the container and MDRS0004 joins it as a
/// spare (one update, as mdadm sends it). Returns the spare's member id and the outcome.
fn swap_failed_for_spare(
    before: &Fixture,
    c: &mut Container,
) -> (u32, mdmon_core::imsm::update::ProcessOutcome) {
    let b_member = member_of(before, "MDRS0002");
    let d_member = member_of(before, "MDRS0004");
    let d = &before.disks[d_member as usize];
    let geo = TailGeometry::new(d.size, d.sector).unwrap();
    let spare = PresentDisk::new_spare(d_member, serial16("MDRS0004"), (8, 48), geo, 0x0000_0300);
    let mut changes = heapless::Vec::new();
    changes.push(DiskChange::Remove(b_member)).unwrap();
    changes.push(DiskChange::Add(spare)).unwrap();
    let out = c
        .process_update(
            PreparedUpdate {
                update: Update::AddRemoveDisk(changes),
                chosen_disk: None,
            },
            &[0, 1],
        )
        .unwrap();
    (d_member, out)
}

/// 04 → 05: the failed disk is removed from the container, MDRS0004 is added as a spare,
/// r5 rebuilds onto it and the failed disk's entry disappears from the table.
#[test]
fn spare_added_and_rebuilt_into_raid5() {
    let (Some(before), Some(after)) = (moment("04-degraded"), moment("05-rebuilt")) else {
        eprintln!("fixtures 04/05 absent");
        return;
    };
    let theirs = parse(&after, "sda");
    // The failed disk's own copy is stale; the container as mdmon holds it comes from the
    // live members (the failed disk is bound as unusable).
    let mut c = load(&before);
    let r5 = volume_by_name(&c, b"r5");
    let (d_member, out) = swap_failed_for_spare(&before, &mut c);
    assert!(out.check_degraded_all);

    let failed_slot = c.mpb.volumes[r5].map0.raw.failed_disk_num as usize;
    let m = members(&c, r5, &[], &[failed_slot]);
    let random = theirs
        .header
        .family_num
        .get()
        .wrapping_sub(c.mpb.header.family_num.get());
    let act = c
        .activate_spare(&array(&c, r5, &m), random)
        .expect("the new spare is chosen");
    assert_eq!(act.disks[0].member, d_member);
    c.process_update(act.update, &[0, 1]).unwrap();
    let m = members(&c, r5, &[], &[]);
    c.set_disk(&array(&c, r5, &m), failed_slot, ds::INSYNC)
        .unwrap();
    assert_same_metadata(&c.mpb, &theirs, "04->05");
}

/// 02 → 03: writes start on r1 (dirty), r5 stays clean.
#[test]
fn write_marks_only_that_volume_dirty() {
    let (Some(before), Some(after)) = (moment("02-volumes-resynced"), moment("03-r1-dirty")) else {
        eprintln!("fixtures 02/03 absent");
        return;
    };
    let mut c = load(&before);
    let r1 = volume_by_name(&c, b"r1");
    let m = members(&c, r1, &[], &[]);
    let out = c.set_array_state(&array(&c, r1, &m), 0).unwrap();
    assert_eq!(out.consistent, 0);
    assert!(out.needs_sync);
    assert_same_metadata(&c.mpb, &parse(&after, "sda"), "02->03");
}

/// Fixture 06 loaded: r1 rebuilding onto its target slot. Returns the container, r1's index,
/// its checkpoint (in migration units), the target slot, and r1's members as md reports
/// them with the target not yet in sync (its `recovery_start` is the caller's).
fn rebuilding_r1(f: &Fixture) -> (Container, usize, u64, usize, Vec<MemberInput>) {
    let c = load(f);
    let r1 = volume_by_name(&c, b"r1");
    assert!(c.is_rebuilding(r1));
    let units = c.mpb.volumes[r1].dev.curr_migr_unit();
    let target = c.mpb.volumes[r1].map0.raw.failed_disk_num as usize;
    let mut m = members(&c, r1, &[], &[]);
    m[target].state = 0;
    (c, r1, units, target, m)
}

/// Volume `v` with members `m`, as a pass during its recovery sees it.
fn recovering<'a>(c: &Container, v: usize, m: &'a [MemberInput]) -> ArrayInput<'a> {
    let mut a = array(c, v, m);
    a.prev_action = SyncAction::Recover;
    a.curr_action = SyncAction::Recover;
    a
}

/// 06: r1 is rebuilding onto MDRS0003; the rebuild checkpoint on disk is in migration units
/// of blocks_per_migr_unit sectors. Recording the same progress reproduces it, and the end
/// of recovery ends the migration.
#[test]
fn rebuild_checkpoint_and_completion() {
    let Some(f) = moment("06-mid-rebuild-checkpoint") else {
        eprintln!("fixture 06 absent");
        return;
    };
    let (mut c, r1, units, target, mut m) = rebuilding_r1(&f);
    assert!(units > 0);
    let bpu = c.blocks_per_migr_unit(r1);
    assert_eq!(bpu, 512, "examine shows Checkpoint : N (512)");
    m[target].recovery_start = units * bpu + 100;
    let mut a = recovering(&c, r1, &m);
    a.last_checkpoint = units * bpu + 100;
    let out = c.set_array_state(&a, 1).unwrap();
    assert!(out.needs_sync);
    assert_eq!(c.mpb.volumes[r1].dev.curr_migr_unit(), units);
    // In-sync report while recovery_start still lags: only the checkpoint moves.
    m[target].state = ds::INSYNC;
    let out = c.set_disk(&array(&c, r1, &m), target, ds::INSYNC).unwrap();
    assert!(
        c.mpb.volumes[r1].is_migrating(),
        "recovery not finished yet"
    );
    assert_eq!(out.last_checkpoint, units * bpu + 100);
    // Recovery done.
    m[target].recovery_start = MAX_SECTOR;
    let out = c.set_disk(&array(&c, r1, &m), target, ds::INSYNC).unwrap();
    assert_eq!(out.last_checkpoint, 0);
    let v = &c.mpb.volumes[r1];
    assert!(!v.is_migrating());
    assert_eq!(v.map0.state(), mdmon_core::imsm::layout::map_state::NORMAL);
    assert!(v
        .map0
        .ords
        .iter()
        .all(|o| o & mdmon_core::imsm::layout::ORD_REBUILD == 0));
}

/// 06 again: while r1 is dirty its rebuild checkpoint reads 0 on disk, and the real one
/// comes back when it is clean. mdadm assembles a volume in a rebuild migration without a
/// resync even when it is dirty, so after a power cut the part already rebuilt would keep
/// any write that reached one mirror only; from checkpoint 0 the rebuild copies it all
/// again. (The C mdmon writes the progress whatever the dirty flag; the rig's `imsm-cut`
/// with throttled disks caught the difference it leaves.)
#[test]
fn a_dirty_volume_in_a_rebuild_keeps_checkpoint_zero_on_disk() {
    let Some(f) = moment("06-mid-rebuild-checkpoint") else {
        eprintln!("fixture 06 absent");
        return;
    };
    let (mut c, r1, units, target, mut m) = rebuilding_r1(&f);
    let bpu = c.blocks_per_migr_unit(r1);
    m[target].recovery_start = (units + 4) * bpu;
    let mut a = recovering(&c, r1, &m);
    a.last_checkpoint = (units + 4) * bpu;
    // A write: dirty, and the checkpoint says nothing is rebuilt.
    let out = c.set_array_state(&a, 0).unwrap();
    assert!(out.needs_sync);
    assert_ne!(c.mpb.volumes[r1].dev.dirty & VOL_DIRTY, 0);
    assert_eq!(c.mpb.volumes[r1].dev.curr_migr_unit(), 0);
    assert!(c.is_rebuilding(r1), "still the same rebuild");
    // Progress while dirty: still 0.
    a.last_checkpoint = (units + 8) * bpu;
    c.set_array_state(&a, 0).unwrap();
    assert_eq!(c.mpb.volumes[r1].dev.curr_migr_unit(), 0);
    // Clean again: the progress md reported is recorded.
    c.set_array_state(&a, 1).unwrap();
    assert_eq!(c.mpb.volumes[r1].dev.dirty & VOL_DIRTY, 0);
    assert_eq!(c.mpb.volumes[r1].dev.curr_migr_unit(), units + 8);
}

/// The container of tests/vm/imsm-rebuild-poweroff.sh just before MDRS0002 fails: r1 on
/// MDRS0001+MDRS0002 (the copy MDRS0002 kept in fixture 06 is that state: mdmon stopped
/// writing it when it failed) and MDRS0003 a container member that holds no volume, so it
/// carries only its own spare record. Returns the container, the spare's table entry as
/// the C mdmon wrote it, and the member ids of the three disks.
fn rebuild_poweroff_before_failure(f: &Fixture) -> (Container, [u32; 3]) {
    let stale = f.disks.iter().find(|d| d.serial == "MDRS0002").unwrap();
    let theirs = parse(f, &f.disks[member_of(f, "MDRS0001") as usize].name);
    let mut spare_entry = theirs.disks[theirs.find_disk(&serial16("MDRS0003")).unwrap()];
    spare_entry.status.set(mdmon_core::imsm::layout::DISK_SPARE);
    let c_disk = f.disks.iter().find(|d| d.serial == "MDRS0003").unwrap();
    let geo = TailGeometry::new(c_disk.size, c_disk.sector).unwrap();
    let mut spare_region = vec![0u8; c_disk.region.len()];
    let anchor = (geo.anchor_offset() - c_disk.region_offset) as usize;
    mdmon_core::imsm::container::encode_spare(
        &spare_entry,
        Compat::Mdadm42,
        0,
        &mut spare_region[anchor..anchor + c_disk.sector as usize],
    )
    .unwrap();
    let ids = [
        member_of(f, "MDRS0001"),
        member_of(f, "MDRS0002"),
        member_of(f, "MDRS0003"),
    ];
    let copies: Vec<MemberCopy> = ["MDRS0001", "MDRS0002", "MDRS0003"]
        .iter()
        .zip(ids)
        .map(|(serial, member)| MemberCopy {
            member,
            region: if *serial == "MDRS0003" {
                &spare_region
            } else {
                &stale.region
            },
            disk_bytes: stale.size,
            sector_size: stale.sector,
            serial: serial16(serial),
            dev: (8, 16 * member),
        })
        .collect();
    let c = Container::load(&copies, Compat::Mdadm42).unwrap();
    (c, ids)
}

/// imsm-rebuild-poweroff up to fixture 06: MDRS0002 fails in r1, mdmon rebuilds onto
/// MDRS0003, a container disk without any volume. The C mdmon gives the new disk the
/// failed disk's table index (the victim is used by no other volume, so its entry goes),
/// writes the full MPB with the new family to every live member, the new one included,
/// and no longer writes the failed disk.
#[test]
fn rebuild_onto_a_disk_without_volumes_takes_the_failed_disks_place() {
    let Some(f) = moment("06-mid-rebuild-checkpoint") else {
        eprintln!("fixture 06 absent");
        return;
    };
    let theirs = parse(&f, &f.disks[member_of(&f, "MDRS0001") as usize].name);
    let (mut c, [a_member, b_member, c_member]) = rebuild_poweroff_before_failure(&f);
    let r1 = volume_by_name(&c, b"r1");
    let b_idx = c.mpb.find_disk(&serial16("MDRS0002")).unwrap() as u32;
    let slot = c.mpb.volumes[r1].map0.slot_of(b_idx).unwrap();

    let m = members(&c, r1, &[slot], &[]);
    assert!(
        c.set_disk(&array(&c, r1, &m), slot, ds::FAULTY)
            .unwrap()
            .needs_sync
    );
    let mut buf = vec![0u8; mdmon_core::imsm::container::sync_buffer_len(512)];
    c.sync_metadata(&mut buf)
        .unwrap()
        .expect("the failure is written");

    // The failed member left r1; the manager looks for a spare on its snapshot.
    let m = members(&c, r1, &[], &[slot]);
    let random = theirs
        .header
        .family_num
        .get()
        .wrapping_sub(c.mpb.header.family_num.get());
    let act = c
        .activate_spare(&array(&c, r1, &m), random)
        .expect("MDRS0003 has room for r1");
    assert_eq!(act.disks.len(), 1);
    assert_eq!(act.disks[0].member, c_member);
    c.process_update(act.update, &[r1]).unwrap();
    assert!(c.is_rebuilding(r1));

    // Same table as the C mdmon: MDRS0001, then MDRS0003 in the failed disk's place.
    assert_eq!(c.mpb.disks, theirs.disks, "disk table");
    assert_eq!(
        c.mpb.header.family_num.get(),
        theirs.header.family_num.get()
    );
    assert_eq!(
        c.mpb.header.orig_family_num.get(),
        theirs.header.orig_family_num.get()
    );

    // Every live member gets the same full MPB; the failed disk gets nothing.
    let plan = c
        .sync_metadata(&mut buf)
        .unwrap()
        .expect("the activation is written");
    // What the plan leaves in the last MiB of a member of 256 MiB, read back as mdadm does.
    let disk_bytes = 268435456u64;
    let read_back = |member: u32| {
        let mut region = vec![0u8; 1 << 20];
        let base = disk_bytes - region.len() as u64;
        for w in plan.writes.iter().filter(|w| w.member == member) {
            let at = (w.offset - base) as usize;
            region[at..at + w.len].copy_from_slice(&buf[w.buf_start..w.buf_start + w.len]);
        }
        let mut image = vec![0u8; MPB_BUF_LEN];
        let n = gather_mpb(&region, disk_bytes, 512, &mut image)
            .unwrap_or_else(|e| panic!("member {member}: no MPB written: {e:?}"));
        Mpb::parse(&image[..n], 512).unwrap()
    };
    for member in [a_member, c_member] {
        assert!(
            !read_back(member).volumes.is_empty(),
            "member {member}: full MPB, not a spare record"
        );
    }
    assert!(
        plan.writes.iter().all(|w| w.member != b_member),
        "the failed disk is no longer written"
    );
    // The written image parses to the metadata the C mdmon wrote (the checkpoint and
    // dirty state aside: the rebuild had progressed by the capture).
    let written = read_back(a_member);
    assert_eq!(written.disks, theirs.disks);
    let (mut ours_vol, theirs_vol) = (written.volumes[r1].clone(), &theirs.volumes[r1]);
    ours_vol
        .dev
        .set_curr_migr_unit(theirs_vol.dev.curr_migr_unit());
    ours_vol.dev.dirty = theirs_vol.dev.dirty;
    assert_eq!(&ours_vol, theirs_vol);
}

/// What the rig showed before the manager refreshed its snapshot for every decision: the
/// manager chose on a copy older than the failure of MDRS0002, so `imsm_readd` offered the
/// failed disk back to its own slot. Applied, that update kept the failed disk in the table
/// as the rebuild target; MDRS0003 was never written and came back at the next boot as a
/// separate container. The monitor, which knows about the failure, must refuse the choice
/// and leave the metadata as it was.
#[test]
fn activation_chosen_before_the_failure_is_refused() {
    let Some(f) = moment("06-mid-rebuild-checkpoint") else {
        eprintln!("fixture 06 absent");
        return;
    };
    let (mut c, [_, b_member, _]) = rebuild_poweroff_before_failure(&f);
    let r1 = volume_by_name(&c, b"r1");
    let b_idx = c.mpb.find_disk(&serial16("MDRS0002")).unwrap() as u32;
    let slot = c.mpb.volumes[r1].map0.slot_of(b_idx).unwrap();
    // The stale copy: taken before the monitor saw the failure.
    let stale = c.clone();

    let m = members(&c, r1, &[slot], &[]);
    c.set_disk(&array(&c, r1, &m), slot, ds::FAULTY).unwrap();
    let mut buf = vec![0u8; mdmon_core::imsm::container::sync_buffer_len(512)];
    c.sync_metadata(&mut buf).unwrap();
    let recorded = c.mpb.clone();

    let m = members(&stale, r1, &[], &[slot]);
    let act = stale
        .activate_spare(&array(&stale, r1, &m), 7)
        .expect("the stale copy offers the slot's own disk");
    assert_eq!(act.disks[0].member, b_member);
    let r = c.process_update(act.update, &[r1]);
    assert!(
        matches!(r, Err(UpdateError::NotApplicable(_))),
        "a failed disk must not become the rebuild target: {r:?}"
    );
    assert!(!c.is_rebuilding(r1));
    assert_eq!(c.mpb, recorded, "a refused update changes nothing");
    assert!(!c.pending);

    // Chosen on the live metadata, the same activation goes to MDRS0003.
    let act = c
        .activate_spare(&array(&c, r1, &m), 7)
        .expect("MDRS0003 has room");
    assert_eq!(act.disks[0].member, member_of(&f, "MDRS0003"));
    c.process_update(act.update, &[r1]).unwrap();
    assert!(c.is_rebuilding(r1));
}

/// A spare being rebuilt in is written before the members that list it. Activating a spare
/// changes the family number; a cut after a listing member's new copy but before the new
/// member's leaves the new member with its spare record and a family of its own, and the
/// family vote (mdadm's, and our loader's) then keeps that spare record and no volume
/// (docs/imsm.md, "Torn writes"). Found by `cargo xtask crash` (imsm1: "r1 is described by
/// no copy that loads").
#[test]
fn a_spare_joining_a_volume_is_written_before_the_members_that_list_it() {
    use mdmon_core::handler::imsm::ImsmMetadata;
    use mdmon_core::handler::{ContainerMetadata, DiskWrite, MAX_DISK_WRITES};
    let Some(before) = moment("04-degraded") else {
        eprintln!("fixture 04 absent");
        return;
    };
    let mut regions: Vec<Vec<u8>> = before.disks.iter().map(|d| d.region.clone()).collect();
    let apply = |regions: &mut Vec<Vec<u8>>, buf: &[u8], w: &DiskWrite| {
        let d = &before.disks[w.disk as usize];
        let at = (w.offset - d.region_offset) as usize;
        regions[w.disk as usize][at..at + w.len].copy_from_slice(&buf[w.buf_start..][..w.len]);
    };
    // What mdadm would assemble: the disks whose own copy loads, then the container.
    let volumes_loaded = |regions: &[Vec<u8>]| -> Option<usize> {
        let copy = |i: usize| common::imsm_copy(&before, &regions[i], i);
        let whole: Vec<MemberCopy> = (0..regions.len())
            .filter(|&i| Container::load(&[copy(i)], Compat::Mdadm42).is_ok())
            .map(copy)
            .collect();
        Container::load(&whole, Compat::Mdadm42)
            .ok()
            .map(|c| c.mpb.volumes.len())
    };
    let mut c = load(&before);
    let r5 = volume_by_name(&c, b"r5");
    let (d_member, _) = swap_failed_for_spare(&before, &mut c);
    let mut meta = ImsmMetadata::new(c);
    let mut buf = vec![0u8; meta.sync_buffer_len()];
    let mut writes: heapless::Vec<DiskWrite, MAX_DISK_WRITES> = heapless::Vec::new();
    // The spare joins the container (its spare record written), all writes land.
    assert!(meta.sync(&mut buf, &mut writes).unwrap());
    for w in writes.iter() {
        apply(&mut regions, &buf, w);
    }
    assert_eq!(volumes_loaded(&regions), Some(2));
    // The daemon lists disks in the order it found them: the spare, added last, last.
    let c = &mut meta.container;
    let at = c.disks.iter().position(|d| d.member == d_member).unwrap();
    let joined = c.disks.remove(at);
    c.disks.push(joined).unwrap();
    // Then it is activated into r5.
    let c = &mut meta.container;
    let failed_slot = c.mpb.volumes[r5].map0.raw.failed_disk_num as usize;
    let m = members(c, r5, &[], &[failed_slot]);
    let act = c.activate_spare(&array(c, r5, &m), 0x1234).unwrap();
    assert_eq!(act.disks[0].member, d_member);
    c.process_update(act.update, &[0, 1]).unwrap();
    assert!(meta.sync(&mut buf, &mut writes).unwrap());
    let joining_wave = writes.iter().find(|w| w.disk == d_member).unwrap().wave;
    assert_eq!(joining_wave, 0, "the joining disk goes first: {writes:?}");
    // After the joining disk alone: the old family still wins, whole (without the order,
    // the first listing member's new family left no champion at all).
    let last = writes.iter().map(|w| w.wave).max().unwrap();
    for w in writes.iter().filter(|w| w.wave == 0) {
        apply(&mut regions, &buf, w);
    }
    assert_eq!(
        volumes_loaded(&regions),
        Some(2),
        "after wave 0: {writes:?}"
    );
    // r5 has two more members. Between them the copies belong to two families that each
    // list a disk of the other: no order avoids that for a volume of three or more
    // (docs/crash.md, "Limits of the formats"). After the last wave all is whole again.
    for wave in 1..=last {
        for w in writes.iter().filter(|w| w.wave == wave) {
            apply(&mut regions, &buf, w);
        }
    }
    assert_eq!(volumes_loaded(&regions), Some(2), "after every wave");
}
