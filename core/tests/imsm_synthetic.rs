//! IMSM parser, writer and handler operations against metadata built from the spec tables.

mod imsm_support;

use imsm_support::*;
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container, DiskSlot, MemberCopy};
use mdmon_core::imsm::error::{BbmFault, ParseError};
use mdmon_core::imsm::examine::Examined;
use mdmon_core::imsm::layout::*;
use mdmon_core::imsm::model::{gather_mpb, Mpb, MPB_BUF_LEN};
use mdmon_core::imsm::ops::{ds, ArrayInput, MemberInput, SyncAction, MAX_SECTOR};

fn parse_region(region: &[u8], disk_bytes: u64, lss: u32) -> Result<Mpb, ParseError> {
    let mut buf = vec![0u8; MPB_BUF_LEN];
    let n = gather_mpb(region, disk_bytes, lss, &mut buf)?;
    Mpb::parse(&buf[..n], lss)
}

fn encode(m: &Mpb, lss: u32) -> Vec<u8> {
    let mut buf = vec![0u8; MPB_BUF_LEN];
    let n = m.encode(lss, &mut buf).expect("encode");
    buf.truncate(n);
    buf
}

fn padded(b: &[u8], lss: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v.resize(b.len().div_ceil(lss) * lss, 0);
    v
}

#[test]
fn parses_single_sector_raid1_per_spec() {
    let spec = two_disk_raid1();
    let bytes = mpb_bytes(&spec);
    let region = region_with(&bytes, DISK_SIZE, 512);
    let m = parse_region(&region, DISK_SIZE, 512).expect("parse");
    assert_eq!(m.header.family_num.get(), 0x1234_5678);
    assert_eq!(m.header.generation_num.get(), 7);
    assert_eq!(m.disks.len(), 2);
    assert_eq!(m.disks[1].serial(), b"MDRS0002");
    assert_eq!(m.disks[0].total_blocks(), DISK_SECTORS);
    assert_eq!(m.volumes.len(), 1);
    let v = &m.volumes[0];
    assert_eq!(v.dev.name(), b"vol0");
    assert_eq!(v.map0.level(), 1);
    assert_eq!(v.map0.num_members(), 2);
    assert_eq!(v.map0.per_dev_array_size(), 65536);
    assert!(v.map1.is_none());
    assert_eq!(m.mpb_size(), bytes.len());
    // Round trip: byte-identical sector.
    assert_eq!(encode(&m, 512), padded(&bytes, 512));
}

#[test]
fn multi_sector_mpb_with_migration_map_and_bbm_round_trips() {
    let mut spec = two_disk_raid1();
    for i in 3..=9 {
        spec.disks.push(disk(&format!("MDRS000{i}"), 0));
    }
    let mut v = raid1_vol("vol1", 0);
    v.migr_state = 1;
    v.migr_type = migr_type::REBUILD;
    v.curr_unit = 42;
    v.map0.pba = 70000;
    let mut m1 = v.map0.clone();
    m1.state = map_state::DEGRADED;
    m1.ords = vec![0, 1 | ORD_REBUILD];
    v.map1 = Some(m1);
    spec.vols.push(v);
    spec.bbm = (0..30).map(|i| (1u8, 1000 + 300 * i as u64, 7u8)).collect();
    let bytes = mpb_bytes(&spec);
    assert!(
        bytes.len() > 512,
        "test needs a multi-sector MPB, got {}",
        bytes.len()
    );
    let region = region_with(&bytes, DISK_SIZE, 512);
    let m = parse_region(&region, DISK_SIZE, 512).expect("parse");
    assert_eq!(m.disks.len(), 9);
    let v = &m.volumes[1];
    assert!(v.is_migrating());
    assert_eq!(v.dev.curr_migr_unit(), 42);
    let m1 = v.map1.as_ref().expect("map1");
    assert_eq!(m1.state(), map_state::DEGRADED);
    assert_eq!(m1.ord(1), Some(1 | ORD_REBUILD));
    assert_eq!(m.bbm.len(), 30);
    assert_eq!(m.bbm[3].start, 1900);
    assert_eq!(m.bbm[3].len, 8);
    assert_eq!(encode(&m, 512), padded(&bytes, 512));
}

#[test]
fn four_k_units_are_converted_and_restored() {
    let mut spec = two_disk_raid1();
    spec.div = 8;
    spec.vols[0].curr_unit = 800;
    spec.bbm = vec![(0, 4096, 0)];
    let bytes = mpb_bytes(&spec);
    let region = region_with(&bytes, DISK_SIZE, 4096);
    let m = parse_region(&region, DISK_SIZE, 4096).expect("parse 4k");
    assert_eq!(m.disks[0].total_blocks(), DISK_SECTORS);
    assert_eq!(m.volumes[0].dev.size(), 65536);
    assert_eq!(m.volumes[0].map0.chunk(), 128);
    assert_eq!(m.volumes[0].map0.raw.blocks_per_member(), 65536 + 2048);
    assert_eq!(m.volumes[0].dev.curr_migr_unit(), 800);
    assert_eq!((m.bbm[0].start, m.bbm[0].len), (4096 * 8, 8));
    assert_eq!(encode(&m, 4096), padded(&bytes, 4096));
}

#[test]
fn malformed_inputs_get_typed_errors() {
    let spec = two_disk_raid1();
    let good = mpb_bytes(&spec);

    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(Mpb::parse(&b, 512), Err(ParseError::BadSignature));

    let mut b = good.clone();
    b[44] ^= 1; // generation, checksum now wrong
    assert!(matches!(
        Mpb::parse(&b, 512),
        Err(ParseError::ChecksumMismatch {
            multi_sector: false,
            ..
        })
    ));

    assert!(matches!(
        Mpb::parse(&good[..100], 512),
        Err(ParseError::Truncated { .. })
    ));

    let mut b = good.clone();
    b[36..40].copy_from_slice(&(good.len() as u32 + 2).to_le_bytes());
    assert!(matches!(
        Mpb::parse(&b, 512),
        Err(ParseError::BadMpbSize(_))
    ));

    // Ord pointing past the table.
    let mut s = spec.clone();
    s.vols[0].map0.ords = vec![0, 5];
    assert!(matches!(
        Mpb::parse(&mpb_bytes(&s), 512),
        Err(ParseError::OrdIndexOutOfRange {
            slot: 1,
            index: 5,
            ..
        })
    ));

    // More volumes than the header's mpb_size can hold: records overlap the end.
    let mut b = good.clone();
    b[57] = 2;
    fix_checksum(&mut b);
    assert!(matches!(
        Mpb::parse(&b, 512),
        Err(ParseError::RecordOverlap { .. })
    ));

    // BBM log with a wrong signature and one with inconsistent size.
    let mut s = spec.clone();
    s.bbm = vec![(0, 10, 0)];
    let with_bbm = mpb_bytes(&s);
    let log_at = with_bbm.len() - 16;
    let mut b = with_bbm.clone();
    b[log_at] ^= 0xff;
    fix_checksum(&mut b);
    assert!(matches!(
        Mpb::parse(&b, 512),
        Err(ParseError::BadBbmLog(BbmFault::BadSignature(_)))
    ));
    let mut b = with_bbm.clone();
    b[log_at + 4] = 2;
    fix_checksum(&mut b);
    assert!(matches!(
        Mpb::parse(&b, 512),
        Err(ParseError::BadBbmLog(BbmFault::SizeMismatch { .. }))
    ));

    // Zero members in a map.
    let mut s = spec.clone();
    s.vols[0].map0.ords = vec![];
    assert!(matches!(
        Mpb::parse(&mpb_bytes(&s), 512),
        Err(ParseError::BadMemberCount { .. })
    ));

    // Region too short to hold the anchor.
    assert!(matches!(
        gather_mpb(&[0u8; 100], DISK_SIZE, 512, &mut [0u8; 4096]),
        Err(ParseError::Truncated { .. })
    ));
}

fn load(specs: &[(&MpbSpec, &str)]) -> Container {
    load_specs(specs, Compat::Mdadm46)
}

#[test]
fn newest_generation_wins_and_spares_join() {
    let old = two_disk_raid1();
    let mut new = two_disk_raid1();
    new.generation = 9;
    new.vols[0].dirty = 1;
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 0xdead_beef,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0003", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let c = load(&[(&old, "MDRS0001"), (&new, "MDRS0002"), (&spare, "MDRS0003")]);
    assert_eq!(c.mpb.header.generation_num.get(), 9);
    assert_eq!(c.mpb.volumes[0].dev.dirty, 1);
    assert_eq!(c.disks.len(), 3);
    assert_eq!(c.disks[0].slot, DiskSlot::Table(0));
    assert_eq!(c.disks[1].slot, DiskSlot::Table(1));
    assert_eq!(c.disks[2].slot, DiskSlot::Spare);
    assert_eq!(c.missing_indexes().count(), 0);

    // Only one member present: the other entry is missing.
    let c = load(&[(&new, "MDRS0001")]);
    assert_eq!(c.missing_indexes().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn sync_writes_new_generation_to_members_and_spare_record_to_spares() {
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 7,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0003", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let base = two_disk_raid1();
    let mut c = load(&[
        (&base, "MDRS0001"),
        (&base, "MDRS0002"),
        (&spare, "MDRS0003"),
    ]);
    let mut buf = vec![0u8; sync_buffer_len(512)];
    assert!(
        c.sync_metadata(&mut buf).unwrap().is_none(),
        "nothing pending, nothing written"
    );
    c.touch();
    let plan = c.sync_metadata(&mut buf).unwrap().expect("plan");
    assert_eq!(plan.generation, 8);
    let n = DISK_SECTORS;
    // Members: one write of the anchor (LBA N-2) and the cleared migration record (N-1);
    // spare: its own record.
    let for_member = |m: u32| {
        plan.writes
            .iter()
            .filter(move |w| w.member == m)
            .collect::<Vec<_>>()
    };
    let w0 = for_member(0);
    assert_eq!(w0.len(), 1);
    assert_eq!((w0[0].offset, w0[0].len), ((n - 2) * 512, 1024));
    assert!(buf[w0[0].buf_start + 512..w0[0].buf_start + 1024]
        .iter()
        .all(|&b| b == 0));
    let anchor = &buf[w0[0].buf_start..w0[0].buf_start + 512];
    let reparsed = Mpb::parse(anchor, 512).expect("written MPB parses");
    assert_eq!(reparsed.header.generation_num.get(), 8);
    assert_eq!(reparsed.volumes, c.mpb.volumes);
    let ws = for_member(2);
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].offset, (n - 2) * 512);
    let rec = &buf[ws[0].buf_start..ws[0].buf_start + 512];
    let sp = Mpb::parse(rec, 512).expect("spare record parses");
    assert_eq!(sp.header.mpb_size.get(), 264);
    assert_eq!(sp.header.generation_num.get(), 1);
    assert_eq!(sp.header.orig_family_num.get(), 0);
    assert_eq!(sp.header.num_raid_devs, 0);
    assert_eq!(sp.disks[0].serial(), b"MDRS0003");
    assert_eq!(sp.disks[0].status(), DISK_SPARE);
    // family_num = checksum of the record computed with family 0.
    let mut zero_family = rec[..264].to_vec();
    zero_family[40..44].fill(0);
    let mut sum = 0u32;
    for w in zero_family.chunks_exact(4) {
        sum = sum.wrapping_add(u32::from_le_bytes(w.try_into().unwrap()));
    }
    let stored = u32::from_le_bytes(rec[32..36].try_into().unwrap());
    assert_eq!(
        sp.header.family_num.get(),
        sum.wrapping_sub(stored).wrapping_sub(0)
    );
    assert!(!c.pending);
}

fn array<'a>(
    members: &'a [MemberInput],
    resync_start: u64,
    prev: SyncAction,
    cp: u64,
) -> ArrayInput<'a> {
    ArrayInput {
        volume: 0,
        md_level: 1,
        raid_disks: 2,
        layout: 0,
        component_size: 65536,
        resync_start,
        curr_action: SyncAction::Idle,
        prev_action: prev,
        last_checkpoint: cp,
        members,
    }
}

const IN_SYNC: [MemberInput; 2] = [
    MemberInput {
        slot: 0,
        state: ds::INSYNC,
        recovery_start: MAX_SECTOR,
        active: true,
        dev: (8, 0),
    },
    MemberInput {
        slot: 1,
        state: ds::INSYNC,
        recovery_start: MAX_SECTOR,
        active: true,
        dev: (8, 16),
    },
];

#[test]
fn fresh_volume_starts_initialisation_and_dirty_clean_round_trip() {
    let mut spec = two_disk_raid1();
    spec.vols[0].map0.state = map_state::UNINITIALIZED;
    let mut c = load(&[(&spec, "MDRS0001"), (&spec, "MDRS0002")]);
    // Started read-only with resync pending: must go dirty and start INIT.
    let out = c
        .set_array_state(&array(&IN_SYNC, 0, SyncAction::Idle, 0), 2)
        .unwrap();
    assert_eq!(out.consistent, 0);
    assert!(out.needs_sync);
    let v = &c.mpb.volumes[0];
    assert!(v.is_migrating());
    assert_eq!(v.dev.migr_type, migr_type::INIT);
    assert_eq!(v.map0.state(), map_state::NORMAL);
    assert_eq!(v.map1.as_ref().unwrap().state(), map_state::UNINITIALIZED);
    assert_eq!(v.dev.dirty & VOL_DIRTY, VOL_DIRTY);

    // Resync progress is checkpointed in migration units (prev action resync).
    let out = c
        .set_array_state(&array(&IN_SYNC, 0, SyncAction::Resync, 4096), 0)
        .unwrap();
    assert_eq!(out.last_checkpoint, 4096);
    let bpu = c.blocks_per_migr_unit(0);
    assert!(bpu > 0);
    assert_eq!(c.mpb.volumes[0].dev.curr_migr_unit(), 4096 / bpu);

    // Resync finished and the array is clean: migration ends, dirty clears.
    let out = c
        .set_array_state(&array(&IN_SYNC, MAX_SECTOR, SyncAction::Resync, 65536), 1)
        .unwrap();
    assert_eq!(out.last_checkpoint, 0);
    let v = &c.mpb.volumes[0];
    assert!(!v.is_migrating());
    assert!(v.map1.is_none());
    assert_eq!(v.map0.state(), map_state::NORMAL);
    assert_eq!(v.dev.dirty, 0);
    assert_eq!(v.dev.curr_migr_unit(), 0);

    // Writes arrive: dirty; idempotent second call records nothing new.
    c.pending = false;
    let out = c
        .set_array_state(&array(&IN_SYNC, MAX_SECTOR, SyncAction::Idle, 0), 0)
        .unwrap();
    assert!(out.needs_sync);
    assert_eq!(c.mpb.volumes[0].dev.dirty, VOL_DIRTY);
    c.pending = false;
    let out = c
        .set_array_state(&array(&IN_SYNC, MAX_SECTOR, SyncAction::Idle, 0), 0)
        .unwrap();
    assert!(!out.needs_sync);
}

#[test]
fn disk_failure_then_spare_rebuild() {
    let spec = two_disk_raid1();
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 7,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0003", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let mut c = load(&[
        (&spec, "MDRS0001"),
        (&spec, "MDRS0002"),
        (&spare, "MDRS0003"),
    ]);
    let members = [
        IN_SYNC[0],
        MemberInput {
            slot: 1,
            state: ds::FAULTY,
            recovery_start: MAX_SECTOR,
            active: true,
            dev: (8, 16),
        },
    ];
    let out = c
        .set_disk(
            &array(&members, MAX_SECTOR, SyncAction::Idle, 0),
            1,
            ds::FAULTY,
        )
        .unwrap();
    assert!(out.needs_sync);
    let d1 = c.mpb.disks[1];
    assert!(d1.is_failed());
    assert_eq!(d1.serial(), b"MDRS0002:0");
    let v = &c.mpb.volumes[0];
    assert_eq!(v.map0.state(), map_state::DEGRADED);
    assert_eq!(v.map0.ord(1), Some(1 | ORD_REBUILD));
    assert_eq!(v.map0.raw.failed_disk_num, 1);
    // Idempotent.
    c.pending = false;
    let out = c
        .set_disk(
            &array(&members, MAX_SECTOR, SyncAction::Idle, 0),
            1,
            ds::FAULTY,
        )
        .unwrap();
    assert!(!out.needs_sync);

    // The failed member has been removed from md: only slot 0 is active.
    let remaining = [
        IN_SYNC[0],
        MemberInput {
            slot: 1,
            state: 0,
            recovery_start: MAX_SECTOR,
            active: false,
            dev: (8, 16),
        },
    ];
    let a = array(&remaining, MAX_SECTOR, SyncAction::Idle, 0);
    let act = c.activate_spare(&a, 0x100).expect("a spare is chosen");
    assert_eq!(act.disks.len(), 1);
    assert_eq!(act.disks[0].slot, 1);
    assert_eq!(act.disks[0].member, 2, "the pristine spare");
    let family = c.mpb.header.family_num.get();
    let r = c.process_update(act.update, &[0]).unwrap();
    assert!(r.needs_sync);
    assert_eq!(c.mpb.header.family_num.get(), family.wrapping_add(0x100));
    let v = &c.mpb.volumes[0];
    assert!(v.is_migrating());
    assert_eq!(v.dev.migr_type, migr_type::REBUILD);
    let m1 = v.map1.as_ref().unwrap();
    assert_eq!(m1.state(), map_state::DEGRADED);
    // The victim (index 1) was deleted; the spare took its place at index 1.
    assert_eq!(c.mpb.disks.len(), 2);
    assert_eq!(c.mpb.disks[1].serial(), b"MDRS0003");
    assert!(c.mpb.disks[1].is_configured());
    assert_eq!(v.map0.ord(1), Some(1));
    assert_eq!(m1.ord(1), Some(1 | ORD_REBUILD));

    // Recovery done: in_sync ends the rebuild.
    let done = [
        IN_SYNC[0],
        MemberInput {
            dev: (8, 32),
            ..IN_SYNC[1]
        },
    ];
    let out = c
        .set_disk(
            &array(&done, MAX_SECTOR, SyncAction::Idle, 100),
            1,
            ds::INSYNC,
        )
        .unwrap();
    assert_eq!(out.last_checkpoint, 0);
    let v = &c.mpb.volumes[0];
    assert!(!v.is_migrating());
    assert_eq!(v.map0.state(), map_state::NORMAL);
    assert_eq!(v.map0.raw.failed_disk_num, NO_FAILED_DISK);
}

#[test]
fn bad_blocks_are_recorded_split_and_cleared() {
    let spec = two_disk_raid1();
    let mut c = load(&[(&spec, "MDRS0001"), (&spec, "MDRS0002")]);
    assert_eq!(c.record_bad_block(0, 1, 1000, 600).unwrap(), 3);
    assert_eq!(c.mpb.bbm.len(), 3);
    assert_eq!((c.mpb.bbm[2].start, c.mpb.bbm[2].len), (1512, 88));
    let mut out = heapless::Vec::new();
    c.get_bad_blocks(0, 1, &mut out).unwrap();
    assert_eq!(out.len(), 3);
    c.get_bad_blocks(0, 0, &mut out).unwrap();
    assert!(out.is_empty());
    assert!(c.clear_bad_block(0, 1, 1256, 256).unwrap());
    assert_eq!(c.mpb.bbm.len(), 2);
    // Encoded MPB carries the log and the BBM attribute.
    let bytes = encode(&c.mpb, 512);
    let m = Mpb::parse(&bytes, 512).unwrap();
    assert_eq!(m.bbm.len(), 2);
    assert_ne!(m.header.attributes.get() & attrib::BBM, 0);
}

#[test]
fn examine_text_and_json_show_the_metadata() {
    let mut spec = two_disk_raid1();
    spec.vols[0].dirty = 1;
    let region = region_with(&mpb_bytes(&spec), DISK_SIZE, 512);
    let e = Examined::from_region(&region, DISK_SIZE, 512, Some(&serial16("MDRS0002"))).unwrap();
    let mut text = String::new();
    e.write_text(&mut text).unwrap();
    assert!(text.contains("         Family : 12345678\n"), "{text}");
    assert!(text.contains("     Generation : 00000007\n"));
    assert!(text.contains("  Disk01 Serial : MDRS0002\n"));
    assert!(text.contains("[vol0]:\n"));
    assert!(text.contains("     RAID Level : 1\n"));
    assert!(text.contains("      This Slot : 1\n"));
    assert!(text.contains("    Dirty State : dirty\n"));
    assert!(text.contains("correct\n"));
    let mut json = String::new();
    e.write_json(&mut json).unwrap();
    assert!(json.starts_with("{\"format\":\"imsm\""), "{json}");
    assert!(json.contains("\"family\":305419896"));
    assert!(json.contains("\"generation\":7"));
    assert!(json.contains("\"name\":\"vol0\""));
    assert!(json.contains("\"dirty\":true"));
    assert_eq!(json.matches('{').count(), json.matches('}').count());

    // A wrong checksum is reported, not refused.
    let mut bytes = mpb_bytes(&spec);
    bytes[44] ^= 1;
    let region = region_with(&bytes, DISK_SIZE, 512);
    let e = Examined::from_region(&region, DISK_SIZE, 512, None).unwrap();
    let mut text = String::new();
    e.write_text(&mut text).unwrap();
    assert!(text.contains(" incorrect\n"), "{text}");
}

fn raid5_spec() -> MpbSpec {
    let mut s = two_disk_raid1();
    s.disks.push(disk("MDRS0003", 2));
    let v = &mut s.vols[0];
    v.name = "r5".into();
    v.map0.level = 5;
    v.map0.domains = 1;
    v.map0.ords = vec![0, 1, 2];
    v.map0.stripes = 65536 / 2 / 128;
    v.map0.blocks_per_member = 32768 + 2048;
    s
}

fn r5_array(members: &[MemberInput], cp: u64) -> ArrayInput<'_> {
    ArrayInput {
        md_level: 5,
        raid_disks: 3,
        component_size: 32768,
        ..array(members, MAX_SECTOR, SyncAction::Idle, cp)
    }
}

#[test]
fn missing_member_at_start_is_marked_failed_and_missing() {
    let spec = raid5_spec();
    let mut c = load(&[(&spec, "MDRS0001"), (&spec, "MDRS0002")]);
    assert_eq!(c.missing_indexes().collect::<Vec<_>>(), vec![2]);
    let members = [IN_SYNC[0], IN_SYNC[1]];
    let out = c.set_array_state(&r5_array(&members, 0), 2).unwrap();
    assert_eq!(out.consistent, 0, "degraded array cannot go read-auto");
    let d = c.mpb.disks[2];
    assert!(d.is_failed());
    assert_eq!(d.scsi_id.get(), SCSI_ID_MISSING);
    // ":0" appended, then the serial shifted left once.
    assert_eq!(d.serial(), b"DRS0003:0");
    let v = &c.mpb.volumes[0];
    assert_eq!(v.map0.ord(2), Some(2 | ORD_REBUILD));
    assert_eq!(v.map0.raw.failed_disk_num, 2);
    // The missing marks are applied once only.
    c.set_array_state(&r5_array(&members, 0), 2).unwrap();
    assert_eq!(c.mpb.disks[2].serial(), b"DRS0003:0");
    // The next write leaves the missing disk alone: no planned write for it exists at all.
    let mut buf = vec![0u8; sync_buffer_len(512)];
    let plan = c.sync_metadata(&mut buf).unwrap().unwrap();
    assert!(plan.writes.iter().all(|w| w.member < 2));
}

#[test]
fn rebuild_target_failure_ends_the_rebuild_degraded() {
    let spec = raid5_spec();
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 7,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0004", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let mut c = load(&[
        (&spec, "MDRS0001"),
        (&spec, "MDRS0002"),
        (&spec, "MDRS0003"),
        (&spare, "MDRS0004"),
    ]);
    let m = |slot: u32, state: u32, active: bool| MemberInput {
        slot,
        state,
        recovery_start: MAX_SECTOR,
        active,
        dev: (8, 16 * slot),
    };
    let failing = [
        m(0, ds::INSYNC, true),
        m(1, ds::INSYNC, true),
        m(2, ds::FAULTY, true),
    ];
    c.set_disk(&r5_array(&failing, 0), 2, ds::FAULTY).unwrap();
    assert_eq!(c.mpb.volumes[0].map0.state(), map_state::DEGRADED);
    let gone = [
        m(0, ds::INSYNC, true),
        m(1, ds::INSYNC, true),
        m(2, 0, false),
    ];
    let act = c
        .activate_spare(&r5_array(&gone, 0), 5)
        .expect("spare chosen");
    assert_eq!(act.disks[0].member, 3);
    c.process_update(act.update, &[0]).unwrap();
    assert!(c.is_rebuilding(0));
    let failed_slot = usize::from(c.mpb.volumes[0].map0.raw.failed_disk_num);
    assert_eq!(failed_slot, 2);
    // The new disk in slot 2 dies during the rebuild.
    let rebuilding = [
        m(0, ds::INSYNC, true),
        m(1, ds::INSYNC, true),
        MemberInput {
            dev: (8, 48),
            ..m(2, ds::FAULTY, true)
        },
    ];
    let out = c
        .set_disk(&r5_array(&rebuilding, 1000), 2, ds::FAULTY)
        .unwrap();
    assert_eq!(out.last_checkpoint, 0);
    let v = &c.mpb.volumes[0];
    assert!(!v.is_migrating());
    assert_eq!(v.map0.state(), map_state::DEGRADED);
    assert!(c.mpb.disks[2].is_failed());
}

#[test]
fn second_failure_in_raid5_fails_the_volume() {
    let spec = raid5_spec();
    let mut c = load(&[
        (&spec, "MDRS0001"),
        (&spec, "MDRS0002"),
        (&spec, "MDRS0003"),
    ]);
    let members = IN_SYNC;
    c.set_disk(&r5_array(&members, 0), 1, ds::FAULTY).unwrap();
    c.set_disk(&r5_array(&members, 0), 0, ds::FAULTY).unwrap();
    let v = &c.mpb.volumes[0];
    assert_eq!(v.map0.state(), map_state::FAILED);
    assert_eq!(
        v.map0.raw.failed_disk_num, 0,
        "lowest failed slot when not rebuilding"
    );
}

#[test]
fn mdadm46_keeps_the_stored_checkpoint_on_the_first_pass() {
    let mut spec = two_disk_raid1();
    spec.vols[0].migr_state = 1;
    spec.vols[0].migr_type = migr_type::INIT;
    spec.vols[0].curr_unit = 3;
    let mut m1 = spec.vols[0].map0.clone();
    m1.state = map_state::UNINITIALIZED;
    spec.vols[0].map1 = Some(m1);
    for (compat, expect) in [(Compat::Mdadm46, 3), (Compat::Mdadm42, 0)] {
        let regions: Vec<Vec<u8>> = (0..2)
            .map(|_| region_with(&mpb_bytes(&spec), DISK_SIZE, 512))
            .collect();
        let copies: Vec<MemberCopy> = ["MDRS0001", "MDRS0002"]
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
        let mut c = Container::load(&copies, compat).unwrap();
        c.set_array_state(&array(&IN_SYNC, 0, SyncAction::Idle, 0), 2)
            .unwrap();
        assert_eq!(c.mpb.volumes[0].dev.curr_migr_unit(), expect, "{compat:?}");
    }
}

#[test]
fn stale_failed_disk_and_foreign_family_are_kept_out() {
    // Champion (generation 9) recorded MDRS0002 as failed; MDRS0002's own copy is older.
    let mut champ = two_disk_raid1();
    champ.generation = 9;
    champ.disks[1].serial = "MDRS0002:0".into();
    champ.disks[1].status = DISK_CONFIGURED | DISK_FAILED;
    champ.vols[0].map0.ords = vec![0, 1 | ORD_REBUILD];
    champ.vols[0].map0.state = map_state::DEGRADED;
    let stale = two_disk_raid1();
    // A disk from another container entirely.
    let mut foreign = two_disk_raid1();
    foreign.family = 0x0bad_f00d;
    foreign.orig_family = 0x0bad_f00d;
    foreign.disks = vec![disk("OTHER001", 2), disk("OTHER002", 2)];
    let c = load(&[
        (&champ, "MDRS0001"),
        (&stale, "MDRS0002"),
        (&foreign, "OTHER001"),
    ]);
    assert_eq!(c.mpb.header.generation_num.get(), 9);
    assert_eq!(c.mpb.header.family_num.get(), 0x1234_5678);
    // Only the champion's own disk is bound; the failed entry is missing.
    assert_eq!(c.disks.len(), 1);
    assert_eq!(c.disks[0].slot, DiskSlot::Table(0));
    assert_eq!(c.missing_indexes().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn rebuild_waits_until_a_failed_raid0_member_left_the_container() {
    // r1 and a RAID0 volume share both disks; a spare waits.
    let mut spec = two_disk_raid1();
    let mut r0 = raid1_vol("r0", 0);
    r0.map0.level = 0;
    r0.map0.domains = 1;
    r0.map0.pba = 70000;
    spec.vols.push(r0);
    let spare = MpbSpec {
        version: "1.3.00".into(),
        family: 7,
        orig_family: 0,
        generation: 1,
        attributes: 0,
        disks: vec![disk("MDRS0003", DISK_SPARE)],
        vols: vec![],
        bbm: vec![],
        div: 1,
    };
    let mut c = load(&[
        (&spec, "MDRS0001"),
        (&spec, "MDRS0002"),
        (&spare, "MDRS0003"),
    ]);
    let faulty = [
        IN_SYNC[0],
        MemberInput {
            state: ds::FAULTY,
            ..IN_SYNC[1]
        },
    ];
    for v in [0, 1] {
        let a = ArrayInput {
            volume: v,
            ..array(&faulty, MAX_SECTOR, SyncAction::Idle, 0)
        };
        c.set_disk(&a, 1, ds::FAULTY).unwrap();
    }
    assert_eq!(c.mpb.volumes[1].map0.state(), map_state::FAILED);
    let gone = [
        IN_SYNC[0],
        MemberInput {
            active: false,
            ..IN_SYNC[1]
        },
    ];
    assert!(
        c.activate_spare(&array(&gone, MAX_SECTOR, SyncAction::Idle, 0), 1)
            .is_none(),
        "failed disk still in the container"
    );
    // `mdadm --remove` of the failed disk from the container.
    let mut changes = heapless::Vec::new();
    changes
        .push(mdmon_core::imsm::update::DiskChange::Remove(1))
        .unwrap();
    let u = mdmon_core::imsm::update::PreparedUpdate {
        update: mdmon_core::imsm::update::Update::AddRemoveDisk(changes),
        chosen_disk: None,
    };
    c.process_update(u, &[0]).unwrap();
    assert!(c.disks.iter().any(|d| d.member == 1 && d.detached));
    assert!(c
        .activate_spare(&array(&gone, MAX_SECTOR, SyncAction::Idle, 0), 1)
        .is_some());
}

#[test]
fn clean_synced_array_leaving_read_only_stays_clean() {
    let spec = two_disk_raid1();
    let mut c = load(&[(&spec, "MDRS0001"), (&spec, "MDRS0002")]);
    let out = c
        .set_array_state(&array(&IN_SYNC, MAX_SECTOR, SyncAction::Idle, 0), 2)
        .unwrap();
    assert_eq!(out.consistent, 1, "nothing to do: read-auto");
    assert!(!out.needs_sync);
    assert!(!c.mpb.volumes[0].is_migrating());
    assert_eq!(c.mpb.volumes[0].dev.dirty, 0);
    // Not fully synced: must go active and start a repair.
    let out = c
        .set_array_state(&array(&IN_SYNC, 100, SyncAction::Idle, 0), 2)
        .unwrap();
    assert_eq!(out.consistent, 0);
    assert_eq!(
        c.mpb.volumes[0].logical_migr_type(),
        mdmon_core::imsm::model::MigrType::Repair
    );
    assert_eq!(
        c.mpb.volumes[0].dev.status.get() & DEV_VERIFY_AND_FIX,
        DEV_VERIFY_AND_FIX
    );
}

#[test]
fn four_k_container_writes_in_4k_units() {
    let mut spec = two_disk_raid1();
    spec.div = 8;
    let regions: Vec<Vec<u8>> = (0..2)
        .map(|_| region_with(&mpb_bytes(&spec), DISK_SIZE, 4096))
        .collect();
    let copies: Vec<MemberCopy> = ["MDRS0001", "MDRS0002"]
        .iter()
        .zip(&regions)
        .enumerate()
        .map(|(i, (s, r))| MemberCopy {
            member: i as u32,
            region: r,
            disk_bytes: DISK_SIZE,
            sector_size: 4096,
            serial: serial16(s),
            dev: (8, 16 * i as u32),
        })
        .collect();
    let mut c = Container::load(&copies, Compat::Mdadm46).unwrap();
    assert_eq!(
        c.mpb.volumes[0].dev.size(),
        65536,
        "model in 512-byte sectors"
    );
    let members = IN_SYNC;
    c.set_array_state(&array(&members, MAX_SECTOR, SyncAction::Idle, 0), 0)
        .unwrap();
    let mut buf = vec![0u8; sync_buffer_len(4096)];
    let plan = c.sync_metadata(&mut buf).unwrap().unwrap();
    let n = DISK_SIZE / 4096;
    // One write: the anchor (N-2) and the cleared migration record (N-1), in 4K units.
    let w = plan
        .writes
        .iter()
        .find(|w| w.member == 0 && w.offset == (n - 2) * 4096)
        .unwrap();
    assert_eq!(w.len, 2 * 4096);
    assert!(buf[w.buf_start + 4096..][..4096].iter().all(|&b| b == 0));
    let sector = &buf[w.buf_start..][..4096];
    // On disk: sizes divided by 8, dirty set, checksum over the 4K-unit image.
    let m = Mpb::parse(sector, 4096).unwrap();
    assert_eq!(m.volumes[0].dev.dirty, VOL_DIRTY);
    assert_eq!(
        u32::from_le_bytes(sector[216 + 16..216 + 20].try_into().unwrap()) as u64,
        DISK_SECTORS / 8
    );
    let vol_at = 216 + 2 * 48;
    assert_eq!(
        u32::from_le_bytes(sector[vol_at + 16..vol_at + 20].try_into().unwrap()),
        65536 / 8
    );
}

#[test]
fn view_is_zero_copy_and_checked_once() {
    let mut spec = two_disk_raid1();
    spec.bbm = vec![(1, 4096, 3)];
    let bytes = mpb_bytes(&spec);
    let view = mdmon_core::imsm::view::MpbView::new(&bytes, 512).unwrap();
    // References point into the caller's buffer.
    assert!(std::ptr::eq(
        view.header() as *const RawSuper as *const u8,
        bytes.as_ptr()
    ));
    assert!(std::ptr::eq(
        view.disks()[1].serial.as_ptr(),
        bytes[216 + 48..].as_ptr()
    ));
    assert_eq!(view.volumes()[0].map0.ords.len(), 2);
    assert_eq!(view.volumes()[0].dev.name(), b"vol0");
    assert_eq!(view.bbm_entries()[0].start(), 4096);
    assert_eq!(view.bytes().len(), bytes.len());
    // A damaged checksum is refused by `new` and accepted by `new_unverified`.
    let mut bad = bytes.clone();
    bad[44] ^= 1;
    assert!(matches!(
        mdmon_core::imsm::view::MpbView::new(&bad, 512),
        Err(ParseError::ChecksumMismatch { .. })
    ));
    assert!(mdmon_core::imsm::view::MpbView::new_unverified(&bad, 512).is_ok());
}

/// mark_failure's ":0" suffix keeps the whole serial while it fits in 15 characters (a
/// short serial never loses its head; only mark_missing shifts it, once), and only past
/// that keeps the last 15, as upstream's `shift = len - 15`.
#[test]
fn failed_suffix_drops_characters_only_past_fifteen() {
    use mdmon_core::imsm::ops::append_failed_suffix;
    for (before, after) in [
        ("MDRS0002", "MDRS0002:0"),
        ("MDRS0002:0", "MDRS0002:0:0"),
        ("ABCDEFGHIJKLM", "ABCDEFGHIJKLM:0"),
        ("ABCDEFGHIJKLMN", "BCDEFGHIJKLMN:0"),
        ("ABCDEFGHIJKLMNOP", "DEFGHIJKLMNOP:0"),
    ] {
        let mut s = [0u8; 16];
        s[..before.len()].copy_from_slice(before.as_bytes());
        append_failed_suffix(&mut s);
        assert_eq!(serial_str(&s), after.as_bytes(), "{before}");
    }
}
