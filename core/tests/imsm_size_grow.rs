//! `mdadm --grow --size` of a running IMSM volume (tests/vm/imsm-size-poweroff.sh): mdadm
//! sends the size change (update 9), then raises md's component size, and md resyncs the
//! added region from the old size on. The monitor must judge that resync against the new
//! component size, so the handler records it as a repair migration whose checkpoint
//! follows md (docs/monitor.md, "What is read"; docs/imsm.md, "Marking the array dirty or
//! clean"). With the size read at discovery only, the resync looked complete from its
//! first sector (`resync_start` at the old size) and no checkpoint reached the disks: a
//! power cut during it came back with nothing recorded.

mod imsm_support;

use imsm_support::*;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::imsm::container::{Compat, Container};
use mdmon_core::imsm::model::MigrType;
use mdmon_core::imsm::update::{kind, prepare_update};
use mdmon_core::monitor::{read_and_act, ArrayRecord, Member, MemberObservation, Observation};
use mdmon_core::sysfs::{ArrayState, DiskState, SyncAction, MAX_SECTOR};

const OLD: u64 = 65536; // the fixture's volume: 32 MiB per member
const NEW: u64 = 98304; // grown to 48 MiB per member

fn container() -> Container {
    two_disk_raid1_container(Compat::Mdadm42)
}

fn record() -> ArrayRecord {
    let mut a = ArrayRecord::new(0, 1, 2, OLD);
    a.members
        .push(Member::new(0, 8, 0, DiskState::IN_SYNC))
        .unwrap();
    a.members
        .push(Member::new(1, 8, 16, DiskState::IN_SYNC))
        .unwrap();
    a.prev_state = ArrayState::Clean;
    a.curr_state = ArrayState::Clean;
    a
}

fn obs(action: SyncAction, resync_start: u64, completed: u64) -> Observation {
    let mut members = heapless::Vec::new();
    for _ in 0..2 {
        members
            .push(MemberObservation {
                state: Some(DiskState::IN_SYNC),
                recovery_start: Some(MAX_SECTOR),
            })
            .unwrap();
    }
    Observation {
        array_state: ArrayState::Clean,
        sync_action: action,
        resync_start: Some(resync_start),
        component_size: Some(NEW),
        sync_completed: completed,
        blocked: false,
        reshape_finished: None,
        members,
    }
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn the_resync_of_the_added_region_is_a_repair_migration_with_checkpoints() {
    let mut c = container();
    // mdadm's size change: new volume size in sectors (RAID1: one data member).
    let p = prepare_update(&c, &words(&[kind::SIZE_CHANGE, 0, NEW as u32, 0])).unwrap();
    c.process_update(p, &[0]).unwrap();
    assert_eq!(c.mpb.volumes[0].dev.size(), NEW);
    let mut meta = ImsmMetadata::new(c);
    let mut a = record();

    // md resyncs from the old size on; the first progress report.
    read_and_act(&mut a, &obs(SyncAction::Resync, OLD, OLD + 8192), &mut meta);
    let v = &meta.container.mpb.volumes[0];
    assert!(
        v.is_migrating(),
        "the added region's resync must be recorded"
    );
    assert_eq!(
        a.component_size, NEW,
        "the record follows md's component size"
    );
    assert_eq!(v.logical_migr_type(), MigrType::Repair);
    let unit = meta.container.blocks_per_migr_unit(0);
    let ckpt = v.dev.curr_migr_unit();
    assert!(unit > 0);
    assert!(
        ckpt * unit > OLD && ckpt * unit <= OLD + 8192,
        "checkpoint {ckpt} x {unit} inside the added region, not ahead of md"
    );

    // Further progress moves the checkpoint on.
    read_and_act(
        &mut a,
        &obs(SyncAction::Resync, OLD + 16384, OLD + 16384),
        &mut meta,
    );
    let v = &meta.container.mpb.volumes[0];
    assert!(v.dev.curr_migr_unit() > ckpt);
    assert!(v.dev.curr_migr_unit() * unit <= OLD + 16384);

    // md finishes: the migration ends, the volume is normal and clean at its new size.
    read_and_act(&mut a, &obs(SyncAction::Idle, MAX_SECTOR, 0), &mut meta);
    let v = &meta.container.mpb.volumes[0];
    assert!(
        !v.is_migrating(),
        "the repair migration ends with the resync"
    );
    assert_eq!(v.dev.curr_migr_unit(), 0);
    assert_eq!(v.dev.size(), NEW);
}
