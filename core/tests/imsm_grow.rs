//! The IMSM RAID0 grow from 2 to 3 disks (tests/vm/imsm-grow.sh) replayed on its fixtures:
//! 09 is the container in general migration (mdadm's reshape helper paused mid-way, the
//! kernel running the volume as raid4 over 4 slots with the parity missing), 10 is what the
//! original mdmon and mdadm left once the reshape ended. The handler must keep the
//! migration (and mdadm's migration record) while the reshape runs or is interrupted, and
//! end it exactly as upstream did when the kernel reports the reshape finished.

mod common;

use common::Fixture;
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container, MemberCopy};
use mdmon_core::imsm::model::{gather_mpb, Mpb, TailGeometry, MPB_BUF_LEN};
use mdmon_core::imsm::ops::{ds, ArrayInput, MemberInput, SyncAction, MAX_SECTOR};
use mdmon_core::imsm::update::prepare_update;

fn moment(name: &str) -> Option<Fixture> {
    common::moment("imsm", name)
}

use common::serial16;

fn parse(f: &Fixture, serial: &str) -> Mpb {
    let d = f.disks.iter().find(|d| d.serial == serial).unwrap();
    let mut buf = vec![0u8; MPB_BUF_LEN];
    let n = gather_mpb(&d.region, d.size, d.sector, &mut buf).unwrap();
    Mpb::parse(&buf[..n], d.sector).unwrap()
}

fn load(f: &Fixture) -> Container {
    let copies: Vec<MemberCopy> = f
        .disks
        .iter()
        .enumerate()
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

/// Per-member sectors of the volume as md reports them during the reshape
/// (`component_size`, also the end of `sync_completed`).
const COMPONENT: u64 = 131072;

/// md's members of the raid4 the grow runs: the 3 data slots, all in sync (the parity slot
/// has no device).
fn members(c: &Container) -> Vec<MemberInput> {
    let vol = &c.mpb.volumes[0];
    (0..vol.map0.num_members())
        .map(|slot| {
            let idx = vol.map0.index_at(slot).unwrap();
            MemberInput {
                slot: slot as u32,
                state: ds::INSYNC,
                recovery_start: MAX_SECTOR,
                active: true,
                dev: c.disk_by_index(idx).unwrap().dev,
            }
        })
        .collect()
}

fn raid4<'a>(
    m: &'a [MemberInput],
    curr: SyncAction,
    prev: SyncAction,
    checkpoint: u64,
) -> ArrayInput<'a> {
    ArrayInput {
        volume: 0,
        md_level: 4,
        raid_disks: 4,
        layout: 5,
        component_size: COMPONENT,
        resync_start: MAX_SECTOR,
        curr_action: curr,
        prev_action: prev,
        last_checkpoint: checkpoint,
        members: m,
    }
}

fn mid_reshape() -> Option<(Fixture, Container)> {
    let f = moment("09-grow-mid-reshape")?;
    let c = load(&f);
    Some((f, c))
}

/// Byte offsets of the migration-record sector (LBA N-1) of every fixture disk.
fn migr_record_offsets(f: &Fixture) -> Vec<u64> {
    f.disks
        .iter()
        .map(|d| {
            TailGeometry::new(d.size, d.sector)
                .unwrap()
                .migr_record_offset()
        })
        .collect()
}

#[test]
fn the_fixture_is_a_raid0_growing_onto_a_third_disk() {
    let Some((f, c)) = mid_reshape() else {
        eprintln!("fixture 09 absent");
        return;
    };
    let vol = &c.mpb.volumes[0];
    assert!(vol.is_gen_migration());
    assert_eq!(vol.map0.num_members(), 3);
    assert_eq!(vol.map1.as_ref().unwrap().num_members(), 2);
    assert_eq!(vol.map0.level(), 0);
    assert_eq!(vol.map0.per_dev_array_size(), COMPONENT);
    // mdadm's examine of the same bytes: "Checkpoint : 9 (6144)", "Array Size : 393216".
    assert!(f.disks[0].examine.contains("Checkpoint : 9 (6144)"));
    assert_eq!(vol.dev.curr_migr_unit(), 9);
    assert_eq!(c.blocks_per_migr_unit(0), 6144);
    assert_eq!(vol.dev.size(), 393216);
}

#[test]
fn reshape_progress_leaves_the_migration_and_its_checkpoint_to_mdadm() {
    let Some((_, mut c)) = mid_reshape() else {
        eprintln!("fixture 09 absent");
        return;
    };
    let before = c.mpb.volumes[0].clone();
    let m = members(&c);
    // A sync_completed event during the reshape: the monitor checkpoints with the array
    // dirty (writes run) and clean.
    for consistent in [0, 1] {
        let out = c
            .set_array_state(
                &raid4(&m, SyncAction::Reshape, SyncAction::Reshape, 40960),
                consistent,
            )
            .unwrap();
        assert_eq!(out.custom_array_size, None);
        assert!(!out.check_reshape);
        assert_eq!(out.last_checkpoint, 40960);
        let vol = &c.mpb.volumes[0];
        assert!(vol.is_gen_migration());
        // curr_migr_unit of a general migration is mdadm's (update 8), never the monitor's.
        assert_eq!(vol.dev.curr_migr_unit(), before.dev.curr_migr_unit());
        assert_eq!(vol.map0, before.map0);
        assert_eq!(vol.map1, before.map1);
    }
}

#[test]
fn an_interrupted_reshape_keeps_its_migration_for_the_resume() {
    let Some((f, mut c)) = mid_reshape() else {
        eprintln!("fixture 09 absent");
        return;
    };
    let before = c.mpb.volumes[0].clone();
    let m = members(&c);
    // The kernel stopped (power-off race, frozen, stop): idle after reshape with the
    // position short of the end, so the checkpoint stays below the component size.
    let out = c
        .set_array_state(&raid4(&m, SyncAction::Idle, SyncAction::Reshape, 20480), 1)
        .unwrap();
    assert_eq!(out.custom_array_size, None);
    let vol = &c.mpb.volumes[0];
    assert!(vol.is_gen_migration());
    assert_eq!(vol.dev.curr_migr_unit(), before.dev.curr_migr_unit());
    // Whatever gets written must not clear mdadm's migration record: the resume reads it.
    c.touch();
    let mut buf = vec![0u8; sync_buffer_len(512)];
    let plan = c.sync_metadata(&mut buf).unwrap().unwrap();
    let records = migr_record_offsets(&f);
    assert!(!plan.writes.is_empty());
    for w in plan.writes.iter() {
        assert!(
            !(w.buf_start == 0 && records.contains(&w.offset)),
            "migration record cleared during a migration: {w:?}"
        );
    }
}

#[test]
fn mdadms_checkpoint_update_moves_only_the_mpb_checkpoint() {
    let Some((f, mut c)) = mid_reshape() else {
        eprintln!("fixture 09 absent");
        return;
    };
    // update_general_migration_checkpoint as mdadm 4.2's helper sends it: type 8, padding,
    // curr_migr_unit as u64.
    let mut payload = vec![0u8; 16];
    payload[..4].copy_from_slice(&8u32.to_le_bytes());
    payload[8..].copy_from_slice(&10u64.to_le_bytes());
    let u = prepare_update(&c, &payload).unwrap();
    c.process_update(u, &[0]).unwrap();
    assert_eq!(c.mpb.volumes[0].dev.curr_migr_unit(), 10);
    assert!(c.mpb.volumes[0].is_gen_migration());
    let mut buf = vec![0u8; sync_buffer_len(512)];
    let plan = c.sync_metadata(&mut buf).unwrap().unwrap();
    let records = migr_record_offsets(&f);
    for w in plan.writes.iter() {
        assert!(
            !records.contains(&w.offset),
            "wrote the migration record: {w:?}"
        );
    }
}

#[test]
fn the_end_of_the_reshape_ends_the_migration_as_upstream_did() {
    let (Some((f, mut c)), Some(done)) = (mid_reshape(), moment("10-grown")) else {
        eprintln!("fixtures 09/10 absent");
        return;
    };
    let m = members(&c);
    // The monitor saw idle after reshape with reshape_position "none": its checkpoint is
    // the component size, which tells the handler to finalise.
    let out = c
        .set_array_state(
            &raid4(&m, SyncAction::Idle, SyncAction::Reshape, COMPONENT),
            1,
        )
        .unwrap();
    // The manager is asked to grow the array to 3 × 64 MiB.
    assert_eq!(out.custom_array_size, Some(393216));
    assert!(out.check_reshape);
    let vol = &c.mpb.volumes[0];
    assert!(!vol.is_migrating());
    assert!(vol.map1.is_none());

    // The result equals what the original mdmon (and mdadm after it) left on disk.
    let theirs = parse(&done, "MDRS0001");
    assert_eq!(c.mpb.volumes.len(), theirs.volumes.len());
    assert_eq!(c.mpb.volumes[0], theirs.volumes[0]);
    assert_eq!(c.mpb.disks, theirs.disks);

    // The next write clears mdadm's migration record on every member (the zero sector at
    // N-1, in the same write as the MPB without the migration).
    let mut buf = vec![0x5au8; sync_buffer_len(512)];
    let plan = c.sync_metadata(&mut buf).unwrap().unwrap();
    let records = migr_record_offsets(&f);
    for (member, offset) in records.iter().enumerate() {
        let w = plan
            .writes
            .iter()
            .find(|w| {
                w.member == member as u32
                    && w.offset <= *offset
                    && *offset + 512 <= w.offset + w.len as u64
            })
            .unwrap_or_else(|| panic!("member {member}: migration record not cleared"));
        let at = w.buf_start + (*offset - w.offset) as usize;
        assert!(buf[at..at + 512].iter().all(|&b| b == 0));
    }
    // And the fixture agrees: the record sector is zero on every disk after the grow.
    for d in &done.disks {
        let rec = &d.region[d.region.len() - d.sector as usize..];
        assert!(rec.iter().all(|&b| b == 0), "{}: record left", d.name);
    }
}
