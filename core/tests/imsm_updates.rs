//! IMSM update messages: wire decoding of all 12 types, refusal of hostile payloads, and the
//! effect of processing on a synthetic container.

mod imsm_support;

use imsm_support::*;
use mdmon_core::imsm::container::{Compat, Container, MemberCopy};
use mdmon_core::imsm::layout::*;
use mdmon_core::imsm::ops::{ds, ArrayInput, MemberInput, SyncAction, MAX_SECTOR};
use mdmon_core::imsm::update::{
    decode, encode, kind, prepare_update, ReshapeMigration, Update, UpdateError,
};
use proptest::prelude::*;

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn container(spec: &MpbSpec, serials: &[&str]) -> Container {
    load_spec(spec, serials, Compat::Mdadm46)
}

#[test]
fn fixed_layouts_decode_field_by_field() {
    assert_eq!(
        decode(&words(&[kind::KILL_ARRAY, 1])),
        Ok(Update::KillArray { dev_idx: 1 })
    );
    let mut rename = words(&[kind::RENAME_ARRAY]);
    rename.extend_from_slice(b"newname\0\0\0\0\0\0\0\0X"); // byte 15 is forced to NUL
    rename.extend_from_slice(&words(&[0]));
    let mut expect = [0u8; 16];
    expect[..7].copy_from_slice(b"newname");
    assert_eq!(
        decode(&rename),
        Ok(Update::RenameArray {
            name: expect,
            dev_idx: 0
        })
    );
    assert_eq!(
        decode(&words(&[kind::GENERAL_MIGRATION_CHECKPOINT, 0xdead, 5, 1])),
        Ok(Update::GeneralMigrationCheckpoint {
            curr_migr_unit: (1 << 32) | 5
        })
    );
    assert_eq!(
        decode(&words(&[kind::SIZE_CHANGE, 1, 4096, 0])),
        Ok(Update::SizeChange {
            subdev: 1,
            new_size: 4096
        })
    );
    assert_eq!(
        decode(&words(&[kind::TAKEOVER, 0, 1])),
        Ok(Update::Takeover {
            subarray: 0,
            to_raid10: true
        })
    );
    assert_eq!(
        decode(&words(&[kind::RWH_POLICY, 3, 0])),
        Ok(Update::RwhPolicy {
            new_policy: 3,
            dev_idx: 0
        })
    );
    assert_eq!(
        decode(&words(&[kind::PREALLOC_BADBLOCKS_MEM])),
        Ok(Update::PreallocBadblocksMem)
    );
    assert_eq!(
        decode(&words(&[kind::ADD_REMOVE_DISK])),
        Ok(Update::AddRemoveDisk(Default::default()))
    );
    let r = decode(&words(&[
        kind::RESHAPE_MIGRATION,
        2,
        3,
        0,
        5,
        0,
        u32::MAX,
        u32::MAX,
    ]))
    .unwrap();
    assert_eq!(
        r,
        Update::ReshapeMigration(ReshapeMigration {
            old_raid_disks: 2,
            new_raid_disks: 3,
            subdev: 0,
            new_level: 5,
            new_layout: 0,
            new_chunksize: -1,
            new_disk: -1
        })
    );
    // dev_t 8:32 in glibc's 32-bit truncation.
    let devt = (8 << 8) | 32;
    match decode(&words(&[kind::RESHAPE_CONTAINER_DISKS, 2, 3, devt])).unwrap() {
        Update::ReshapeContainerDisks {
            old_raid_disks: 2,
            new_raid_disks: 3,
            new_disks,
        } => {
            assert_eq!(new_disks.as_slice(), &[devt]);
            assert_eq!(mdmon_core::imsm::update::decode_dev_t(devt), (8, 32));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_payloads_are_refused() {
    assert_eq!(
        decode(&[]),
        Err(UpdateError::TooShort {
            kind: u32::MAX,
            len: 0,
            needed: 4
        })
    );
    assert_eq!(decode(&words(&[12])), Err(UpdateError::UnknownType(12)));
    assert_eq!(
        decode(&words(&[kind::ACTIVATE_SPARE, 0, 0, 0, 0, 0, 0, 0])),
        Err(UpdateError::InternalOnly(0))
    );
    assert!(matches!(
        decode(&words(&[kind::RENAME_ARRAY, 0])),
        Err(UpdateError::TooShort { .. })
    ));
    assert!(matches!(
        decode(&words(&[kind::TAKEOVER, 0, 7])),
        Err(UpdateError::BadField("direction"))
    ));
    assert!(matches!(
        decode(&words(&[kind::SIZE_CHANGE, 2, 1, 0])),
        Err(UpdateError::BadField("subdev"))
    ));
    assert!(matches!(
        decode(&words(&[kind::SIZE_CHANGE, 0, 0, 0x8000_0000])),
        Err(UpdateError::BadField("new_size"))
    ));
    // Claims 100 new disks but carries one.
    assert!(matches!(
        decode(&words(&[kind::RESHAPE_CONTAINER_DISKS, 2, 102, 0])),
        Err(UpdateError::BadField(_) | UpdateError::TooShort { .. })
    ));
    assert!(matches!(
        decode(&words(&[kind::RESHAPE_CONTAINER_DISKS, 2, 5, 0, 0])),
        Err(UpdateError::TooShort { .. })
    ));
    assert!(matches!(
        decode(&words(&[kind::RWH_POLICY, 300, 0])),
        Err(UpdateError::BadField("new_policy"))
    ));
}

#[test]
fn create_array_round_trips_and_tail_is_length_checked() {
    let spec = two_disk_raid1();
    let c = container(&spec, &["MDRS0001", "MDRS0002"]);
    let mut vol = c.mpb.volumes[0].clone();
    vol.dev.volume = serial16("second");
    vol.map0.raw.set_pba_of_lba0(80000);
    let mut serials = heapless::Vec::new();
    serials.push(serial16("MDRS0001")).unwrap();
    serials.push(serial16("MDRS0002")).unwrap();
    let u = Update::CreateArray {
        dev_idx: 1,
        volume: vol,
        serials,
    };
    let mut buf = [0u8; 4096];
    let n = encode(&u, &mut buf).unwrap();
    assert_eq!(n, 8 + 112 + 48 + 8 + 32);
    assert_eq!(decode(&buf[..n]), Ok(u.clone()));
    // One byte short of the serial tail.
    assert!(matches!(
        decode(&buf[..n - 1]),
        Err(UpdateError::TooShort { .. })
    ));

    let mut c = c;
    let prepared = prepare_update(&c, &buf[..n]).unwrap();
    let out = c.process_update(prepared, &[0]).unwrap();
    assert!(out.needs_sync);
    assert_eq!(c.mpb.volumes.len(), 2);
    assert_eq!(c.mpb.volumes[1].dev.name(), b"second");
    assert_eq!(c.mpb.header.attributes.get() & attrib::RAID1, attrib::RAID1);
    assert_eq!(c.mpb.header.version(), b"1.3.00");

    // Same volume again at an overlapping offset is refused.
    let prepared = prepare_update(
        &c,
        &{
            let mut b = buf;
            b[4..8].copy_from_slice(&2u32.to_le_bytes());
            b
        }[..n],
    )
    .unwrap();
    assert!(matches!(
        c.process_update(prepared, &[0]),
        Err(UpdateError::NotApplicable(_))
    ));
}

#[test]
fn rename_kill_size_and_policy_updates_apply() {
    let mut spec = two_disk_raid1();
    spec.vols.push({
        let mut v = raid1_vol("vol1", 0);
        // Past vol0 grown to 100 000 sectors below (102 048 per member).
        v.map0.pba = 110_000;
        v
    });
    let mut c = container(&spec, &["MDRS0001", "MDRS0002"]);
    let rename = |name: &[u8], idx: u32| {
        let mut b = words(&[kind::RENAME_ARRAY]);
        let mut n = [0u8; 16];
        n[..name.len()].copy_from_slice(name);
        b.extend_from_slice(&n);
        b.extend_from_slice(&words(&[idx]));
        b
    };
    let p = prepare_update(&c, &rename(b"vol0", 1)).unwrap();
    assert!(
        matches!(c.process_update(p, &[]), Err(UpdateError::BadField("name"))),
        "duplicate name"
    );
    let p = prepare_update(&c, &rename(b"-bad", 1)).unwrap();
    assert!(c.process_update(p, &[]).is_err());
    let p = prepare_update(&c, &rename(b"data", 1)).unwrap();
    assert!(
        matches!(
            c.process_update(p, &[1]),
            Err(UpdateError::NotApplicable(_))
        ),
        "active volume"
    );
    let p = prepare_update(&c, &rename(b"data", 1)).unwrap();
    c.process_update(p, &[0]).unwrap();
    assert_eq!(c.mpb.volumes[1].dev.name(), b"data");

    let p = prepare_update(&c, &words(&[kind::RWH_POLICY, 3, 1])).unwrap();
    c.process_update(p, &[]).unwrap();
    assert_eq!(c.mpb.volumes[1].dev.rwh_policy, 3);

    // A size the members cannot hold is refused before mdadm is acked (issue 14): far
    // beyond the disks, and into the second volume that follows on the same disks.
    let total = c.mpb.disks[0].total_blocks();
    for too_big in [total * 4, c.mpb.volumes[1].map0.raw.pba_of_lba0() + 8192] {
        assert!(
            matches!(
                prepare_update(
                    &c,
                    &words(&[kind::SIZE_CHANGE, 0, too_big as u32, (too_big >> 32) as u32])
                ),
                Err(UpdateError::NotApplicable(_))
            ),
            "size {too_big} of disks of {total} sectors"
        );
    }
    let p = prepare_update(&c, &words(&[kind::SIZE_CHANGE, 0, 100_000, 0])).unwrap();
    c.process_update(p, &[]).unwrap();
    let v = &c.mpb.volumes[0];
    assert_eq!(v.dev.size(), 100_000 >> 11 << 11);
    assert_eq!(v.map0.raw.blocks_per_member(), 100_000 + 2048);
    assert_eq!(v.map0.raw.num_data_stripes(), 100_000 / 2 / 128);

    let p = prepare_update(&c, &words(&[kind::KILL_ARRAY, 1])).unwrap();
    assert!(c.process_update(p, &[1]).is_err(), "active victim");
    let p = prepare_update(&c, &words(&[kind::KILL_ARRAY, 1])).unwrap();
    c.process_update(p, &[0]).unwrap();
    assert_eq!(c.mpb.volumes.len(), 1);
    let p = prepare_update(&c, &words(&[kind::KILL_ARRAY, 0])).unwrap();
    assert!(c.process_update(p, &[]).is_err(), "only volume");
}

#[test]
fn takeover_raid0_to_raid10_and_back() {
    let mut spec = two_disk_raid1();
    spec.vols[0].map0.level = 0;
    spec.vols[0].map0.domains = 1;
    spec.vols[0].map0.stripes = 65536 / 2 / 128;
    let mut c = container(&spec, &["MDRS0001", "MDRS0002"]);
    let p = prepare_update(&c, &words(&[kind::TAKEOVER, 0, 1])).unwrap();
    c.process_update(p, &[0]).unwrap();
    let v = &c.mpb.volumes[0];
    assert_eq!(v.map0.num_members(), 4);
    assert_eq!(v.map0.level(), 10);
    assert_eq!(
        v.map0.raw.raid_level, 1,
        "2 source members keep raw level 1 (docs/imsm.md, \"RAID level and stripe count\")"
    );
    assert_eq!(v.map0.state(), map_state::DEGRADED);
    assert_eq!(c.mpb.disks.len(), 4);
    assert!(c.mpb.disks[1].is_failed());
    assert_eq!(c.mpb.disks[1].serial(), b"MISSING_1:0");
    assert_eq!(c.mpb.disks[1].scsi_id.get(), SCSI_ID_MISSING);
    assert_eq!(v.map0.ord(1), Some(1 | ORD_REBUILD));

    let p = prepare_update(&c, &words(&[kind::TAKEOVER, 0, 0])).unwrap();
    c.process_update(p, &[0]).unwrap();
    let v = &c.mpb.volumes[0];
    assert_eq!(v.map0.level(), 0);
    assert_eq!(v.map0.num_members(), 2);
    assert_eq!(c.mpb.disks.len(), 2);
    assert_eq!(c.mpb.disks[1].serial(), b"MDRS0002");
    assert_eq!(v.map0.ords.as_slice(), &[0, 1]);
}

/// mdadm 4.2's `--grow --level=0` of a 2-disk RAID1 (upstream test
/// 18imsm-r1_2d-takeover-r0_1d): it fails and removes the second mirror in md (mdmon records
/// it failed), then sends the RAID10 -> RAID0 takeover, which upstream applies to any
/// mirrored map with half its members failed; a 2-disk RAID1 is raw level 1 like a
/// 4-disk RAID10 (docs/imsm.md, "RAID level and stripe count"). Refusing it left the
/// volume a degraded RAID1 on disk under a raid0 in md (rig imsm-takeover-poweroff).
#[test]
fn takeover_raid1_to_raid0_after_mdadm_removed_the_mirror() {
    let mut spec = two_disk_raid1();
    spec.disks[1].serial = "MDRS0002:0".into();
    spec.disks[1].status = 0x2 | 0x4; // configured, failed
    spec.vols[0].map0.state = map_state::DEGRADED;
    spec.vols[0].map0.failed = 1;
    spec.vols[0].map0.ords = vec![0, 1 | ORD_REBUILD];
    // The failed mirror's own copy is older (failed disks are not written): load the
    // survivor's.
    let mut c = container(&spec, &["MDRS0001"]);
    assert_eq!(c.mpb.volumes[0].map0.level(), 1);
    let p = prepare_update(&c, &words(&[kind::TAKEOVER, 0, 0])).unwrap();
    c.process_update(p, &[0])
        .expect("RAID1 -> RAID0 takeover applies");
    let v = &c.mpb.volumes[0];
    assert_eq!(v.map0.level(), 0);
    assert_eq!(v.map0.num_members(), 1);
    assert_eq!(v.map0.state(), map_state::NORMAL);
    assert_eq!(v.map0.ords.as_slice(), &[0]);
    assert_eq!(c.mpb.disks.len(), 1, "the failed mirror left the table");
    assert_eq!(c.mpb.disks[0].serial(), b"MDRS0001");

    // A RAID1 with both mirrors in sync is still refused (no half failed).
    let mut c = container(&two_disk_raid1(), &["MDRS0001", "MDRS0002"]);
    let p = prepare_update(&c, &words(&[kind::TAKEOVER, 0, 0])).unwrap();
    assert!(c.process_update(p, &[0]).is_err());
    assert_eq!(c.mpb.volumes[0].map0.level(), 1);
}

#[test]
fn checkpoint_update_moves_general_migration_only() {
    let mut spec = two_disk_raid1();
    spec.vols[0].migr_state = 1;
    spec.vols[0].migr_type = migr_type::GEN_MIGR;
    spec.vols[0].map1 = Some(spec.vols[0].map0.clone());
    let bytes = mpb_bytes(&spec);
    let mut region = region_with(&bytes, DISK_SIZE, 512);
    // Migration record at N-1: ascending, 128 blocks per unit.
    let rec_at = REGION - 512;
    region[rec_at + 12..rec_at + 16].copy_from_slice(&1u32.to_le_bytes());
    region[rec_at + 16..rec_at + 20].copy_from_slice(&128u32.to_le_bytes());
    let copies = [MemberCopy {
        member: 0,
        region: &region,
        disk_bytes: DISK_SIZE,
        sector_size: 512,
        serial: serial16("MDRS0001"),
        dev: (8, 0),
    }];
    let mut c = Container::load(&copies, Compat::Mdadm46).unwrap();
    assert_eq!(c.blocks_per_migr_unit(0), 128);
    let p = prepare_update(&c, &words(&[kind::GENERAL_MIGRATION_CHECKPOINT, 0, 77, 0])).unwrap();
    c.process_update(p, &[0]).unwrap();
    assert_eq!(c.mpb.volumes[0].dev.curr_migr_unit(), 77);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn decoder_is_total(kind in 0u32..14, body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&body);
        let _ = decode(&b);
    }

    #[test]
    fn process_never_panics_on_decoded_payloads(kind in 1u32..12, words_in in proptest::collection::vec(0u32..8, 1..12)) {
        let spec = two_disk_raid1();
        let mut c = container(&spec, &["MDRS0001", "MDRS0002"]);
        let mut b = words(&[kind]);
        b.extend_from_slice(&words(&words_in));
        if let Ok(p) = prepare_update(&c, &b) {
            let _ = c.process_update(p, &[0]);
        }
    }
}

#[test]
fn container_grow_reshapes_volumes_one_after_another() {
    // Two 2-disk RAID1-shaped volumes (raw level 0 = RAID0 here) plus a spare that joins.
    let mut spec = two_disk_raid1();
    for v in spec.vols.iter_mut() {
        v.map0.level = 0;
        v.map0.domains = 1;
    }
    let mut second = spec.vols[0].clone();
    second.name = "vol1".into();
    second.map0.pba = 70000;
    spec.vols.push(second);
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 9,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0003", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let regions: Vec<Vec<u8>> = [&spec, &spec, &spare]
        .iter()
        .map(|s| region_with(&mpb_bytes(s), DISK_SIZE, 512))
        .collect();
    let copies: Vec<MemberCopy> = ["MDRS0001", "MDRS0002", "MDRS0003"]
        .iter()
        .zip(&regions)
        .enumerate()
        .map(|(i, (s, r))| MemberCopy {
            member: i as u32,
            region: r,
            disk_bytes: DISK_SIZE,
            sector_size: 512,
            serial: serial16(s),
            dev: (8, 16 * i as u32),
        })
        .collect();
    let mut c = Container::load(&copies, Compat::Mdadm46).unwrap();
    // mdadm --grow -n 3: dev_t 8:32 is the spare.
    let p = prepare_update(
        &c,
        &words(&[kind::RESHAPE_CONTAINER_DISKS, 2, 3, (8 << 8) | 32]),
    )
    .unwrap();
    c.process_update(p, &[0, 1]).unwrap();
    let v0 = &c.mpb.volumes[0];
    assert!(v0.is_gen_migration());
    assert_eq!(v0.map0.num_members(), 3);
    assert_eq!(v0.map1.as_ref().unwrap().num_members(), 2);
    assert_eq!(
        v0.dev.size(),
        (65536 / 2 * 3) >> 11 << 11,
        "size from the new geometry"
    );
    assert!(
        !c.mpb.volumes[1].is_migrating(),
        "only the first volume starts"
    );
    assert_eq!(c.mpb.disks.len(), 3);
    assert!(c.mpb.disks[2].is_configured() && !c.mpb.disks[2].is_spare());

    // Reshape of volume 0 finishes: it ends, and volume 1 starts its own.
    let m: Vec<MemberInput> = (0..3)
        .map(|slot| MemberInput {
            slot,
            state: ds::INSYNC,
            recovery_start: MAX_SECTOR,
            active: true,
            dev: (8, 16 * slot),
        })
        .collect();
    let a = ArrayInput {
        volume: 0,
        md_level: 0,
        raid_disks: 3,
        layout: 0,
        component_size: 32768,
        resync_start: MAX_SECTOR,
        curr_action: SyncAction::Idle,
        prev_action: SyncAction::Reshape,
        last_checkpoint: 32768,
        members: &m,
    };
    let out = c.set_array_state(&a, 1).unwrap();
    assert!(out.check_reshape);
    assert_eq!(out.custom_array_size, Some((32768 * 3) >> 11 << 11));
    assert!(!c.mpb.volumes[0].is_migrating());
    let v1 = &c.mpb.volumes[1];
    assert!(v1.is_gen_migration());
    assert_eq!(v1.map0.num_members(), 3);
    assert_eq!(v1.map0.ords.as_slice(), &[0, 1, 2]);
    assert!(c.clean_migr_rec_by_mdmon);
}
