//! DDF model, writer, operations and updates against synthetic containers built from the
//! spec tables (tests/ddf_support).

mod ddf_support;

use ddf_support::*;
use mdmon_core::ddf::layout::{HEADER_TYPE_PRIMARY, LOST_REFNUM};
use mdmon_core::ddf::ops::{ArrayInfo, ArrayMember, Consistency, DeviceState, ResyncProgress};
use mdmon_core::ddf::update::{PreparedUpdate, UpdateError, UpdateKind};
use mdmon_core::ddf::write::apply_plan;
use mdmon_core::ddf::*;

fn load(disks: &[SynthDisk]) -> Box<Container> {
    let inputs: Vec<MemberInput<'_>> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| d.input(i as u64))
        .collect();
    let mut c = Box::new(Container::new());
    c.load(&inputs).expect("load");
    c
}

/// Write every disk of `c` over a copy of its tail, as the shell would.
fn write_all(c: &Container, disks: &[SynthDisk]) -> Vec<SynthDisk> {
    let mut buf = vec![0u8; c.image_len()];
    c.disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let src = &disks[d.id.0 as usize];
            let plan = c.write_disk(i, &mut buf).expect("write_disk");
            let mut out = src.clone();
            assert!(
                apply_plan(&plan, &buf, out.sectors * 512, &mut out.tail),
                "plan fits the tail"
            );
            out
        })
        .collect()
}

#[test]
fn loads_raid5_container() {
    let disks = build(&raid5_with_spare());
    let c = load(&disks);
    assert_eq!(c.disks.len(), 4);
    assert_eq!(c.header.seq.get(), 7);
    assert_eq!(c.pds.len(), 1023);
    assert_eq!(c.vds.len(), 255);
    assert_eq!(c.phys.used_pdes.get(), 4);
    assert_eq!(c.volumes.len(), 1);
    assert_eq!(c.bvds.len(), 1);
    let guid = c.vd_guid(0).unwrap();
    let b = c.bvd(&guid, 0).unwrap();
    assert_eq!(b.prim_count(), 3);
    assert_eq!(b.elements.len(), 256);
    assert!(b.crc_ok);
    for (i, d) in c.disks.iter().enumerate() {
        assert_eq!(d.pd_index, Some(i as u16));
        assert_eq!(d.slots.len(), 65);
        let expect = if i < 3 {
            ConfigSlot::Volume(guid)
        } else {
            ConfigSlot::Empty
        };
        assert_eq!(d.slots[0], expect, "disk {i}");
    }
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert_eq!(c.volume_state(&guid), Some(VdState::Optimal));
}

#[test]
fn unchanged_container_round_trips_byte_for_byte() {
    for spec in [raid5_with_spare(), raid10()] {
        let disks = build(&spec);
        let c = load(&disks);
        let written = write_all(&c, &disks);
        for (a, b) in disks.iter().zip(written.iter()) {
            assert!(a.tail == b.tail, "round trip changed bytes");
        }
    }
}

#[test]
fn write_plan_order_and_header_invariants() {
    let disks = build(&raid5_with_spare());
    let c = load(&disks);
    let mut buf = vec![0u8; c.image_len()];
    let plan = c.write_disk(0, &mut buf).unwrap();
    assert_eq!(plan.ops.len(), 15);
    let d = &disks[0];
    let prim = (d.sectors - PRIMARY_FROM_END) * 512;
    let sec = c.header.secondary_lba.get() * 512;
    // Secondary first: open header, sections, closed header; then the primary the same way;
    // the anchor at the end (docs/ddf.md, "Write order").
    assert_eq!(plan.ops[0].disk_offset, sec);
    assert_eq!(plan.ops[6].disk_offset, sec);
    assert_eq!(plan.ops[7].disk_offset, prim);
    assert_eq!(plan.ops[13].disk_offset, prim);
    let sec_open = &buf[plan.ops[0].buf_start..][..512];
    let sec_closed = &buf[plan.ops[6].buf_start..][..512];
    let open = &buf[plan.ops[7].buf_start..][..512];
    let closed = &buf[plan.ops[13].buf_start..][..512];
    assert_eq!((sec_open[48], sec_closed[48]), (1, 0));
    assert_eq!((open[48], closed[48]), (1, 0));
    assert_eq!(open[112], HEADER_TYPE_PRIMARY);
    assert_eq!(sec_closed[112], 2);
    assert_eq!(plan.ops[14].disk_offset, (d.sectors - 1) * 512);
    let anchor = &buf[plan.ops[14].buf_start..][..512];
    assert_eq!(&anchor[40..44], &[0xFF; 4]);
    assert_eq!(anchor[48], 0xFF);
    // mdadm 4.2 compares bytes 113..512 of each copy with the anchor.
    assert_eq!(&anchor[113..], &closed[113..]);
    assert_eq!(&sec_closed[113..], &closed[113..]);
    for h in [sec_open, open, closed, anchor, sec_closed] {
        assert!(crc::crc_ok(h));
    }
    // Sections land at header LBA + recorded offset.
    assert_eq!(plan.ops[8].disk_offset, prim + 512);
    assert_eq!(plan.ops[12].disk_offset, prim + 617 * 512);
    assert_eq!(plan.ops[1].disk_offset, sec + 512);
    let small = c.write_disk(0, &mut buf[..100]);
    assert!(matches!(small, Err(WriteError::BufferTooSmall { .. })));
    assert!(matches!(
        c.write_disk(9, &mut buf),
        Err(WriteError::NoSuchDisk { index: 9 })
    ));
}

#[test]
fn header_copy_selection() {
    // Broken primary CRC: the secondary is used.
    let mut disks = build(&raid5_with_spare());
    let p = disks[0].primary();
    disks[0].tail[p + 44] ^= 1;
    let set = model::read_header_set(&disks[0].input(0)).unwrap();
    assert_eq!(set.active, model::CopyKind::Secondary);
    assert!(matches!(
        set.primary,
        Err(ParseError::BadCrc {
            what: Structure::Primary,
            ..
        })
    ));

    // Newer closed secondary wins over the primary.
    let mut disks = build(&raid5_with_spare());
    let s = disks[0].secondary();
    disks[0].tail[s + 43] = 9;
    reseal(&mut disks[0].tail, s, 512);
    let set = model::read_header_set(&disks[0].input(0)).unwrap();
    assert_eq!(set.active, model::CopyKind::Secondary);
    // Equal sequence, primary open, secondary closed: secondary.
    let mut disks = build(&raid5_with_spare());
    let p = disks[0].primary();
    disks[0].tail[p + 48] = 1;
    reseal(&mut disks[0].tail, p, 512);
    let set = model::read_header_set(&disks[0].input(0)).unwrap();
    assert_eq!(set.active, model::CopyKind::Secondary);
    assert_eq!(set.score(), 7);

    // Both copies broken.
    let mut disks = build(&raid5_with_spare());
    let (p, s) = (disks[0].primary(), disks[0].secondary());
    disks[0].tail[p] = 0;
    disks[0].tail[s + 100] ^= 0x40;
    assert_eq!(
        model::read_header_set(&disks[0].input(0)).unwrap_err(),
        ParseError::NoValidCopy
    );

    // A copy whose GUID differs from the anchor's is refused.
    let mut disks = build(&raid5_with_spare());
    let p = disks[0].primary();
    disks[0].tail[p + 9] ^= 1;
    reseal(&mut disks[0].tail, p, 512);
    let set = model::read_header_set(&disks[0].input(0)).unwrap();
    assert_eq!(
        set.primary.unwrap_err(),
        ParseError::CopyMismatch {
            what: Structure::Primary
        }
    );

    // Anchor problems are fatal.
    let mut disks = build(&raid5_with_spare());
    let a = disks[0].anchor();
    disks[0].tail[a + 32..a + 40].copy_from_slice(b"02.00.00");
    reseal(&mut disks[0].tail, a, 512);
    assert!(matches!(
        model::read_header_set(&disks[0].input(0)),
        Err(ParseError::Revision { .. })
    ));
    disks[0].tail[a] = 0;
    assert!(matches!(
        model::read_header_set(&disks[0].input(0)),
        Err(ParseError::BadSignature {
            what: Structure::Anchor,
            ..
        })
    ));
}

#[test]
fn bad_member_inputs_are_typed_errors() {
    let disks = build(&raid5_with_spare());
    let mut c = Box::new(Container::new());
    assert_eq!(c.load(&[]), Err(LoadError::NoMembers));
    let mut m = disks[0].input(0);
    m.sector_size = 4096;
    assert_eq!(
        c.load(&[m]),
        Err(LoadError::Member {
            index: 0,
            error: ParseError::SectorSize { bytes: 4096 }
        })
    );
    let mut m = disks[0].input(0);
    m.disk_bytes += 100;
    assert!(matches!(
        c.load(&[m]),
        Err(LoadError::Member {
            error: ParseError::DiskSize { .. },
            ..
        })
    ));
    // Tail too short to hold the primary copy: the copy is out of range, the secondary works.
    let short = &disks[0].tail[disks[0].secondary()..];
    let m = MemberInput {
        id: DiskId(0),
        disk_bytes: disks[0].sectors * 512,
        sector_size: 512,
        tail: short,
    };
    c.load(&[m]).expect("secondary alone suffices");
    // Tail holding nothing but the anchor.
    let tiny = &disks[0].tail[disks[0].anchor()..];
    let m = MemberInput {
        id: DiskId(0),
        disk_bytes: disks[0].sectors * 512,
        sector_size: 512,
        tail: tiny,
    };
    assert_eq!(
        c.load(&[m]),
        Err(LoadError::Member {
            index: 0,
            error: ParseError::NoValidCopy
        })
    );
    let m = MemberInput {
        id: DiskId(0),
        disk_bytes: 1024,
        sector_size: 512,
        tail: &disks[0].tail,
    };
    assert!(matches!(
        c.load(&[m]),
        Err(LoadError::Member {
            error: ParseError::TailLongerThanDisk { .. },
            ..
        })
    ));
}

#[test]
fn best_member_supplies_global_sections_and_sequence_continues_from_max() {
    let mut disks = build(&raid5_with_spare());
    // Disk 2 is newer: seq 9 and a different VD name in its copy of the VD records.
    for off in [disks[2].primary(), disks[2].secondary()] {
        disks[2].tail[off + 40..off + 44].copy_from_slice(&9u32.to_be_bytes());
        reseal(&mut disks[2].tail, off, 512);
        let virt = off + 130 * 512;
        disks[2].tail[virt + 64 + 48] = b'X';
        reseal(&mut disks[2].tail, virt, 32 * 512);
    }
    let c = load(&disks);
    assert_eq!(c.header.seq.get(), 9);
    assert_eq!(c.vds[0].name[0], b'X');
}

#[test]
fn section_crc_problems_are_findings_not_errors() {
    let mut disks = build(&raid5_with_spare());
    for off in [disks[1].primary(), disks[1].secondary()] {
        disks[1].tail[off + 617 * 512 + 100] ^= 1; // PD data CRC
        disks[1].tail[off + 162 * 512 + 200] ^= 1; // VD config CRC
    }
    let c = load(&disks);
    assert!(c.findings.iter().any(|f| f.disk == Some(1)
        && f.what == Structure::PdData
        && matches!(f.kind, FindingKind::BadCrc { .. })));
    assert!(c.findings.iter().any(|f| f.what == Structure::VdConfig));
}

#[test]
fn vd_config_with_bad_structure_is_refused() {
    let mut disks = build(&raid5_with_spare());
    for off in [disks[0].primary(), disks[0].secondary()] {
        let r = off + 162 * 512;
        disks[0].tail[r + 64..r + 66].copy_from_slice(&300u16.to_be_bytes()); // > mppe
    }
    let inputs: Vec<_> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| d.input(i as u64))
        .collect();
    let mut c = Box::new(Container::new());
    assert_eq!(
        c.load(&inputs),
        Err(LoadError::Member {
            index: 0,
            error: ParseError::BadVdConfig {
                fault: VdConfigFault::PrimaryCount
            }
        })
    );
}

#[test]
fn dirty_clean_and_init_state() {
    let disks = build(&raid5_with_spare());
    let mut c = load(&disks);
    let (clean, o) = c
        .set_array_state(0, Consistency::Dirty, ResyncProgress::Complete, 100)
        .unwrap();
    assert!(!clean && o.changed);
    assert_eq!(c.vds[0].state & 0x10, 0x10);
    assert_eq!(c.header.seq.get(), 8);
    // Already dirty: no change, no second bump.
    let (_, o) = c
        .set_array_state(0, Consistency::Dirty, ResyncProgress::Complete, 100)
        .unwrap();
    assert!(!o.changed);
    assert_eq!(c.header.seq.get(), 8);
    assert!(c.begin_sync(123));
    assert!(c.disks.iter().all(|d| d.timestamp == 123));
    assert!(!c.begin_sync(124));
    let (clean, o) = c
        .set_array_state(0, Consistency::Clean, ResyncProgress::InProgress, 100)
        .unwrap();
    assert!(clean && o.changed);
    assert_eq!(c.vds[0].state & 0x10, 0);
    assert_eq!(c.vds[0].init_state & 3, 1);
    assert_eq!(c.header.seq.get(), 9);
    // VD config sequence is not bumped by state changes.
    let guid = c.vd_guid(0).unwrap();
    assert_eq!(c.bvd(&guid, 0).unwrap().seq(), 4);
    assert_eq!(
        c.set_array_state(7, Consistency::Clean, ResyncProgress::Complete, 0),
        Err(ops::OpError::NoSuchVolume { vcnum: 7 })
    );
}

#[test]
fn activation_with_missing_member_marks_it_failed() {
    let disks = build(&raid5_with_spare());
    // Disk 1 is absent.
    let present = [disks[0].clone(), disks[2].clone(), disks[3].clone()];
    let inputs: Vec<_> = present
        .iter()
        .enumerate()
        .map(|(i, d)| d.input([0u64, 2, 3][i]))
        .collect();
    let mut c = Box::new(Container::new());
    c.load(&inputs).unwrap();
    let guid = c.vd_guid(0).unwrap();
    let (clean, o) = c
        .set_array_state(0, Consistency::Activate, ResyncProgress::Complete, 500)
        .unwrap();
    assert!(clean);
    assert!(o.changed && o.check_degraded);
    let b = c.bvd(&guid, 0).unwrap();
    assert_eq!(b.elements[1].refnum, LOST_REFNUM);
    assert_eq!(b.seq(), 6, "two bumps: element lost, then VD state");
    assert_eq!(c.pd_state(1), PdState::FAILED | PdState::MISSING);
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Degraded);
    // The written image shows it: reload from the written disks.
    assert!(c.begin_sync(600));
    let mut all = disks.clone();
    let written = write_all(&c, &disks);
    for (w, id) in written.into_iter().zip([0usize, 2, 3]) {
        all[id] = w;
    }
    let inputs: Vec<_> = [0usize, 2, 3]
        .iter()
        .map(|&i| all[i].input(i as u64))
        .collect();
    let mut r = Box::new(Container::new());
    r.load(&inputs).unwrap();
    assert_eq!(r.header.seq.get(), 8);
    assert_eq!(r.bvd(&guid, 0).unwrap().elements[1].refnum, 0);
    assert_eq!(VdState::from_byte(r.vds[0].state), VdState::Degraded);
    assert_eq!(r.disks[0].timestamp, 600);
    // mdadm --examine shows the lost element as "--" and the absent disk as failed+missing.
    let mut text = String::new();
    examine::examine_text(&r, &[(DiskId(0), "/dev/vda")], true, 0, &mut text).unwrap();
    assert!(
        text.contains(" Raid Devices[0] : 3 (0@0K --@0K 2@0K)\n"),
        "{text}"
    );
    assert!(
        text.contains("        state[0] : Degraded, Consistent\n"),
        "{text}"
    );
    assert!(
        text.contains("    10000002     32768K                 active/Offline, Failed, Missing\n"),
        "{text}"
    );
}

#[test]
fn failure_then_spare_rebuild_lifecycle() {
    let disks = build(&raid5_with_spare());
    let mut c = load(&disks);
    let guid = c.vd_guid(0).unwrap();
    // md reports slot 1 faulty.
    let o = c
        .set_disk(
            0,
            1,
            Some((DiskId(1), 0)),
            DeviceState::FAULTY | DeviceState::BLOCKED,
            10,
        )
        .unwrap();
    assert!(o.changed);
    assert!(c.pd_state(1).contains(PdState::FAILED | PdState::ONLINE));
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Degraded);
    assert_eq!(c.bvd(&guid, 0).unwrap().seq(), 5, "one bump per set_disk");
    // Idempotent.
    let o = c
        .set_disk(0, 1, Some((DiskId(1), 0)), DeviceState::FAULTY, 11)
        .unwrap();
    assert!(!o.changed);

    // Disk 1 was removed from the array; the manager looks for a spare.
    let members = [
        ArrayMember {
            slot: 0,
            id: DiskId(0),
            faulty: false,
        },
        ArrayMember {
            slot: 2,
            id: DiskId(2),
            faulty: false,
        },
    ];
    let info = ArrayInfo {
        vcnum: 0,
        level: 5,
        layout: 2,
        raid_disks: 3,
        component_size: 20480,
        members: &members,
    };
    let mut ubuf = vec![0u8; 16 * 3584];
    let plan = c
        .activate_spare(&info, &mut ubuf)
        .unwrap()
        .expect("a spare");
    // The global spare (disk 3) is empty: extent at 0. Disks 0 and 2 are in the array.
    assert_eq!(plan.choices.len(), 1);
    assert_eq!(plan.choices[0].id, DiskId(3));
    assert_eq!(plan.choices[0].slot, 1);
    assert_eq!(plan.choices[0].data_offset, 0);
    assert_eq!(plan.update_len, 3584);
    // While a member is still faulty and attached, wait.
    let faulty = [ArrayMember {
        slot: 1,
        id: DiskId(1),
        faulty: true,
    }];
    let wait = ArrayInfo {
        members: &faulty,
        ..info
    };
    assert_eq!(c.activate_spare(&wait, &mut ubuf).unwrap(), None);

    // The update travels through prepare/process like any socket update.
    let ctx = c.update_context().unwrap();
    let prepared = ctx.prepare(&ubuf[..plan.update_len]).unwrap();
    let out = c.process_update(prepared, 20);
    assert!(out.changed);
    let b = c.bvd(&guid, 0).unwrap();
    assert_eq!(b.elements[1].refnum, 0x1000_0004);
    assert_eq!(c.disks[3].slots[0], ConfigSlot::Volume(guid));
    let t = c.pd_type(3);
    assert!(t.contains(PdType::ACTIVE) && !t.contains(PdType::GLOBAL_SPARE));
    assert!(
        c.pd_state(3).contains(PdState::REBUILDING),
        "VD is degraded, so the new member rebuilds"
    );
    // Disk 1 is Failed, present in the container but listed by no VD: Transition stays.
    assert!(c
        .pd_state(1)
        .contains(PdState::FAILED | PdState::TRANSITION));
    assert_eq!(c.disks[1].slots[0], ConfigSlot::Empty);

    // Recovery done: md reports the new member in sync.
    let o = c
        .set_disk(0, 1, Some((DiskId(3), 0)), DeviceState::IN_SYNC, 30)
        .unwrap();
    assert!(o.changed);
    assert!(!c.pd_state(3).contains(PdState::REBUILDING));
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Optimal);

    // And it round-trips through the writer.
    assert!(c.begin_sync(40));
    let written = write_all(&c, &disks);
    let r = load(&written);
    assert_eq!(r.bvd(&guid, 0).unwrap().elements[1].refnum, 0x1000_0004);
    assert_eq!(r.disks[3].slots[0], ConfigSlot::Volume(guid));
    assert_eq!(VdState::from_byte(r.vds[0].state), VdState::Optimal);
}

#[test]
fn a_failed_disk_that_left_keeps_its_entry_so_no_disk_is_renumbered() {
    let disks = build(&raid5_with_spare());
    let mut c = load(&disks);
    let guid = c.vd_guid(0).unwrap();
    c.set_disk(0, 1, Some((DiskId(1), 0)), DeviceState::FAULTY, 10)
        .unwrap();
    // Disk 1 leaves the container.
    let rm = c.prepare_disk_remove(DiskId(1)).unwrap();
    let out = c.process_update(rm, 11);
    assert_eq!(out.removed_disk, Some(DiskId(1)));
    assert!(c.pd_state(1).contains(PdState::MISSING));
    // Spare activation replaces it.
    let members = [
        ArrayMember {
            slot: 0,
            id: DiskId(0),
            faulty: false,
        },
        ArrayMember {
            slot: 2,
            id: DiskId(2),
            faulty: false,
        },
    ];
    let info = ArrayInfo {
        vcnum: 0,
        level: 5,
        layout: 2,
        raid_disks: 3,
        component_size: 20480,
        members: &members,
    };
    let mut ubuf = vec![0u8; 3584];
    let plan = c.activate_spare(&info, &mut ubuf).unwrap().unwrap();
    let p = c
        .update_context()
        .unwrap()
        .prepare(&ubuf[..plan.update_len])
        .unwrap();
    c.process_update(p, 12);
    // The failed, absent, unlisted entry stays where it is (Failed): dropping it would
    // renumber disks 2 and 3, and copies of two generations would disagree on the numbers
    // mdadm's assembly compares (docs/ddf.md, "Vacated PD entries").
    assert_eq!(c.phys.used_pdes.get(), 4);
    assert_eq!(c.pds[1].refnum.get(), 0x1000_0002);
    assert!(c.pd_state(1).contains(PdState::FAILED));
    assert_eq!(
        c.disks.iter().map(|d| d.pd_index).collect::<Vec<_>>(),
        vec![Some(0), Some(2), Some(3)]
    );
    assert_eq!(c.bvd(&guid, 0).unwrap().elements[1].refnum, 0x1000_0004);
}

#[test]
fn raid10_slots_map_to_bvds() {
    let disks = build(&raid10());
    let mut c = load(&disks);
    let guid = c.vd_guid(0).unwrap();
    assert_eq!(c.volume(&guid).unwrap().sec_count, 2);
    assert_eq!(c.bvds.len(), 2);
    assert_eq!(c.slot_element(&guid, 0), Some((0, 0)));
    assert_eq!(c.slot_element(&guid, 3), Some((1, 1)));
    assert_eq!(c.slot_element(&guid, 4), None);
    // Slot 3 (disk 3, BVD 1) fails: the VD is degraded (spanned mirrors), not failed.
    c.set_disk(0, 3, Some((DiskId(3), 0)), DeviceState::FAULTY, 5)
        .unwrap();
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Degraded);
    assert_eq!(c.bvd(&guid, 1).unwrap().seq(), 4);
    assert_eq!(c.bvd(&guid, 0).unwrap().seq(), 3);
    // Its partner fails too: that mirror is gone, so is the VD.
    c.set_disk(0, 2, Some((DiskId(2), 0)), DeviceState::FAULTY, 6)
        .unwrap();
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Failed);
}

fn virt_update(guid: [u8; 24], state: u8, len: usize) -> Vec<u8> {
    let mut u = vec![0u8; len];
    u[..4].copy_from_slice(&0xDDDD_DDDDu32.to_be_bytes());
    if len >= 128 {
        u[64..88].copy_from_slice(&guid);
        u[96] = state;
        u[112..114].copy_from_slice(b"nv");
    }
    u
}

#[test]
fn virt_updates_add_and_delete() {
    let disks = build(&raid5_with_spare());
    let mut c = load(&disks);
    let ctx = c.update_context().unwrap();
    let new_guid = guid(b"Linux-MD", 1_495_000_000, 7);
    let p = ctx.prepare(&virt_update(new_guid, 0, 128)).unwrap();
    let out = c.process_update(p, 1);
    assert!(out.changed);
    assert_eq!(c.vds[1].guid, new_guid, "first unused slot");
    assert_eq!(c.virt.populated_vdes.get(), 2);
    // Same GUID again: ignored.
    let p = ctx.prepare(&virt_update(new_guid, 0, 128)).unwrap();
    assert!(c.process_update(p, 2).dropped.is_some());
    // Delete the RAID5: its configuration disappears from every disk.
    let old = c.vd_guid(0).unwrap();
    let p = ctx.prepare(&virt_update(old, 0x02, 128)).unwrap();
    assert!(matches!(p, PreparedUpdate::VirtDelete { .. }));
    assert!(c.process_update(p, 3).changed);
    assert!(c.volumes.is_empty() && c.bvds.is_empty());
    assert!(c
        .disks
        .iter()
        .all(|d| d.slots.iter().all(|s| *s == ConfigSlot::Empty)));
    // Its entry stays until a sync without the records was written (docs/ddf.md,
    // "Deleting a VD"): not before, and not when that sync was not written.
    assert_eq!(c.vd_guid(0), Some(old));
    assert!(!c.finish_deletions());
    c.deletions_laid_out();
    c.deletions_unwritten();
    assert!(!c.finish_deletions());
    assert_eq!(c.vd_guid(0), Some(old));
    c.deletions_laid_out();
    assert!(c.finish_deletions());
    assert_eq!(c.vd_guid(0), None);
    assert!(c.updates_pending);
    assert!(c.deleting.is_empty());
    assert_eq!(
        c.virt.populated_vdes.get(),
        2,
        "count kept as upstream (mdadm prints it)"
    );
}

#[test]
fn hostile_update_payloads_are_refused() {
    let disks = build(&raid5_with_spare());
    let c = load(&disks);
    let ctx = c.update_context().unwrap();
    assert_eq!(
        ctx.prepare(&[0xDE, 0xAD]).unwrap_err(),
        UpdateError::TooShort { len: 2 }
    );
    assert_eq!(
        ctx.prepare(&virt_update([0; 24], 0, 127)).unwrap_err(),
        UpdateError::Length {
            kind: UpdateKind::Virt,
            len: 127,
            expected: 128
        }
    );
    let mut phys = vec![0u8; 128];
    phys[..4].copy_from_slice(&0x2222_2222u32.to_be_bytes());
    phys[8..10].copy_from_slice(&5000u16.to_be_bytes());
    assert_eq!(
        ctx.prepare(&phys).unwrap_err(),
        UpdateError::SlotOutOfRange { slot: 5000 }
    );
    // VD_CONF: take a real record and damage it in various ways.
    let rec = disks[0].tail[disks[0].primary() + 162 * 512..][..3584].to_vec();
    assert!(matches!(
        ctx.prepare(&rec).unwrap(),
        PreparedUpdate::VdConf { .. }
    ));
    assert!(matches!(
        ctx.prepare(&rec[..3000]).unwrap_err(),
        UpdateError::Length {
            kind: UpdateKind::VdConf,
            ..
        }
    ));
    let mut two = rec.clone();
    two[69] = 2;
    assert!(matches!(
        ctx.prepare(&two).unwrap_err(),
        UpdateError::Length { expected: 7168, .. }
    ));
    two.extend_from_slice(&two.clone());
    // Two records claiming the same BVD position.
    assert_eq!(
        ctx.prepare(&two).unwrap_err(),
        UpdateError::Inconsistent { index: 1 }
    );
    let mut huge = rec.clone();
    huge[69] = 200;
    huge[70] = 0;
    let huge: Vec<u8> = huge.iter().copied().cycle().take(3584 * 200).collect();
    assert!(matches!(
        ctx.prepare(&huge).unwrap_err(),
        UpdateError::Capacity { .. }
    ));
    let mut zero = rec.clone();
    zero[64..66].copy_from_slice(&0u16.to_be_bytes());
    assert!(matches!(
        ctx.prepare(&zero).unwrap_err(),
        UpdateError::Record { index: 0, .. }
    ));
    assert!(matches!(
        ctx.prepare(&[0x55, 0x55, 0x55, 0x55, 1]).unwrap(),
        PreparedUpdate::Ignored { magic: 0x5555_5555 }
    ));
}

#[test]
fn disk_joining_the_container() {
    let disks = build(&raid5_with_spare());
    let mut c = load(&disks);
    let n = update::NewDisk {
        id: DiskId(9),
        disk_bytes: 262144 * 512,
        now: 1000,
        date: *b"20261125",
        guid_random: [1, 2, 3, 4, 5, 6, 7, 8],
        refnum_candidates: [0, 0x1000_0001, 0xFFFF_FFFF, 0x4242_4242],
    };
    let p = c.prepare_disk_add(&n).unwrap();
    let PreparedUpdate::PhysAdd {
        slot,
        ref entry,
        ref disk,
    } = p
    else {
        panic!("not a phys add")
    };
    assert_eq!(slot, 4);
    assert_eq!(
        entry.refnum.get(),
        0x4242_4242,
        "0, taken and all-ones refnums are skipped"
    );
    let d = disk.as_ref().unwrap();
    // Same distance from the end as the reference disk (head of the list).
    assert_eq!(d.primary_lba, 262144 - PRIMARY_FROM_END);
    assert_eq!(d.secondary_lba, 262144 - SECONDARY_FROM_END);
    assert_eq!(
        entry.config_size.get(),
        262144 - 65536,
        "S - 32 MiB is below both copies"
    );
    let out = c.process_update(p, 1001);
    assert!(out.changed && out.check_degraded_all);
    assert_eq!(c.disks[0].id, DiskId(9));
    assert_eq!(c.phys.used_pdes.get(), 5);
    // The new disk gets a full image.
    let mut buf = vec![0u8; c.image_len()];
    let plan = c.write_disk(0, &mut buf).unwrap();
    let mut tail = vec![0u8; TAIL_SECTORS as usize * 512];
    assert!(apply_plan(&plan, &buf, 262144 * 512, &mut tail));
    let m = MemberInput {
        id: DiskId(9),
        disk_bytes: 262144 * 512,
        sector_size: 512,
        tail: &tail,
    };
    let mut r = Box::new(Container::new());
    r.load(&[m]).unwrap();
    assert_eq!(r.disks[0].pd_index, Some(4));
    let small = update::NewDisk {
        disk_bytes: 65536 * 512,
        ..n
    };
    assert_eq!(
        c.prepare_disk_add(&small).unwrap_err(),
        update::AddDiskError::Size
    );
}

#[test]
fn examine_text_and_json() {
    let disks = build(&raid5_with_spare());
    let c = load(&disks[..1]);
    let mut s = String::new();
    examine::examine_text(&c, &[(DiskId(0), "/dev/vda")], true, 0, &mut s).unwrap();
    assert!(s.contains("          Magic : de11de11\n"), "{s}");
    assert!(s.contains("            Seq : 00000007\n"));
    assert!(s.contains("  Redundant hdr : yes\n"));
    assert!(s.contains("        state[0] : Optimal, Consistent\n"));
    assert!(s.contains("   init state[0] : Fully Initialised\n"));
    assert!(s.contains("         Name[0] : r5\n"));
    assert!(s.contains(" Raid Devices[0] : 3 (0@0K 1@0K 2@0K)\n"));
    assert!(s.contains("   Chunk Size[0] : 128 sectors\n"));
    assert!(s.contains("   Raid Level[0] : RAID5\n"));
    assert!(s.contains("  Device Size[0] : 10240\n"));
    assert!(
        s.contains("         0    10000001     32768K /dev/vda        active/Online\n"),
        "{s}"
    );
    assert!(
        s.contains("         3    10000004     32768K                 Global-Spare/Online\n"),
        "{s}"
    );
    // Container GUID creation time: DDF time 1_480_000_000 = 2026-11-24 15:06:40 UTC.
    assert!(s.contains("(Linux-MD 11/24/26 15:06:40)"), "{s}");
    let mut j = String::new();
    examine::examine_json(&c, &[(DiskId(0), "/dev/vda")], true, &mut j).unwrap();
    assert!(
        j.starts_with("{\"format\":\"ddf\",\"family\":\"4c696e75782d4d44deadbeef00000000"),
        "{j}"
    );
    assert!(j.contains("\"generation\":7"));
    assert!(j.contains("\"name\":\"r5\""));
    assert!(j.contains("\"state\":\"optimal\",\"consistent\":true"));
    assert!(j.contains("{\"pd_index\":2,\"refnum\":\"10000003\",\"lba\":0}"));
    assert_eq!(j.matches('{').count(), j.matches('}').count());

    assert!(examine::has_anchor(&disks[0].input(0)));
    let mut wiped = disks[0].clone();
    let a = wiped.anchor();
    wiped.tail[a] = 0;
    assert!(!examine::has_anchor(&wiped.input(0)));
    let mut scratch = Box::new(Container::new());
    let mut out = String::new();
    let e = examine::examine_member(
        &wiped.input(0),
        None,
        examine::ExamineStyle::Json,
        &mut scratch,
        &mut out,
    );
    assert!(matches!(e, Err(examine::ExamineError::Load(_))));
    let e = examine::examine_member(
        &disks[1].input(1),
        Some("/dev/vdb"),
        examine::ExamineStyle::Json,
        &mut scratch,
        &mut out,
    );
    assert_eq!(e, Ok(()));
    assert!(
        out.contains("\"device\":\"/dev/vdb\",\"refnum\":\"10000002\""),
        "{out}"
    );
    assert_eq!(
        format!("{}", ParseError::NoValidCopy),
        "neither primary nor secondary header is valid"
    );
}

#[test]
fn crash_images_pick_the_fully_written_disk() {
    // Disk 0 crashed mid-write: primary open at seq 8, secondary still closed at 7.
    let mut disks = build(&raid5_with_spare());
    let p = disks[0].primary();
    disks[0].tail[p + 40..p + 44].copy_from_slice(&8u32.to_be_bytes());
    disks[0].tail[p + 48] = 1;
    reseal(&mut disks[0].tail, p, 512);
    let set = model::read_header_set(&disks[0].input(0)).unwrap();
    assert_eq!(
        set.active,
        model::CopyKind::Primary,
        "newer primary is still used"
    );
    assert_eq!(set.score(), 7, "but scores as not newer");
    // Disk 2 completed that batch: seq 8, closed, and a different VD name to tell them apart.
    for off in [disks[2].primary(), disks[2].secondary()] {
        disks[2].tail[off + 40..off + 44].copy_from_slice(&8u32.to_be_bytes());
        reseal(&mut disks[2].tail, off, 512);
        let virt = off + 130 * 512;
        disks[2].tail[virt + 64 + 48] = b'Z';
        reseal(&mut disks[2].tail, virt, 32 * 512);
    }
    let inputs: Vec<_> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| d.input(i as u64))
        .collect();
    let mut c = Box::new(Container::new());
    c.load(&inputs).unwrap();
    assert_eq!(
        c.vds[0].name[0], b'Z',
        "global sections come from the fully written disk"
    );
    assert_eq!(c.header.seq.get(), 8);
}

#[test]
fn write_ops_are_sector_aligned() {
    let disks = build(&raid10());
    let c = load(&disks);
    let mut buf = vec![0u8; c.image_len()];
    assert_eq!(c.image_len() % 512, 0);
    for i in 0..c.disks.len() {
        let plan = c.write_disk(i, &mut buf).unwrap();
        for op in &plan.ops {
            assert_eq!(
                (op.buf_start % 512, op.len % 512, op.disk_offset % 512),
                (0, 0, 0),
                "{op:?}"
            );
            assert!(op.buf_start + op.len <= buf.len());
        }
        // Merging neighbours gives 7 writes with the same effect.
        let merged = plan.coalesced();
        assert_eq!(merged.ops.len(), 7);
        let d = &disks[c.disks[i].id.0 as usize];
        let (mut a, mut b) = (d.tail.clone(), d.tail.clone());
        assert!(apply_plan(&plan, &buf, d.sectors * 512, &mut a));
        assert!(apply_plan(&merged, &buf, d.sectors * 512, &mut b));
        assert!(a == b);
    }
}

#[test]
fn raid10_spare_lands_in_the_right_mirror() {
    let mut spec = raid10();
    spec.sizes.push(131072);
    spec.refnums.push(0x2000_0005);
    spec.pd_state.push(1);
    spec.pd_type.push(0x0005);
    let disks = build(&spec);
    let mut c = load(&disks);
    let guid = c.vd_guid(0).unwrap();
    c.set_disk(0, 3, Some((DiskId(3), 0)), DeviceState::FAULTY, 1)
        .unwrap();
    let members: Vec<ArrayMember> = (0..3)
        .map(|s| ArrayMember {
            slot: s,
            id: DiskId(u64::from(s)),
            faulty: false,
        })
        .collect();
    let info = ArrayInfo {
        vcnum: 0,
        level: 10,
        layout: 0x102,
        raid_disks: 4,
        component_size: 20480,
        members: &members,
    };
    let mut buf = vec![0u8; 2 * 3584];
    let plan = c.activate_spare(&info, &mut buf).unwrap().unwrap();
    assert_eq!(plan.update_len, 2 * 3584, "both BVDs travel in the update");
    assert_eq!((plan.choices[0].slot, plan.choices[0].id), (3, DiskId(4)));
    // A mirror with no member left cannot be rebuilt: nothing to do.
    let broken: Vec<ArrayMember> = [0u32, 1]
        .iter()
        .map(|&s| ArrayMember {
            slot: s,
            id: DiskId(u64::from(s)),
            faulty: false,
        })
        .collect();
    let info2 = ArrayInfo {
        members: &broken,
        ..info
    };
    assert_eq!(c.activate_spare(&info2, &mut buf.clone()).unwrap(), None);

    let p = c
        .update_context()
        .unwrap()
        .prepare(&buf[..plan.update_len])
        .unwrap();
    c.process_update(p, 2);
    assert_eq!(c.bvd(&guid, 1).unwrap().elements[1].refnum, 0x2000_0005);
    assert_eq!(
        c.bvd(&guid, 0).unwrap().elements[1].refnum,
        0x2000_0002,
        "the other mirror is untouched"
    );
    assert_eq!(
        c.bvd_listing(&guid, 0x2000_0005).map(|b| b.bvd_index()),
        Some(1)
    );
    assert_eq!(c.disks[4].slots[0], ConfigSlot::Volume(guid));
    c.set_disk(0, 3, Some((DiskId(4), 0)), DeviceState::IN_SYNC, 3)
        .unwrap();
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Optimal);
    // Written and reloaded, the new member carries BVD 1 only.
    c.begin_sync(4);
    let mut out = vec![0u8; c.image_len()];
    let plan = c.write_disk(4, &mut out).unwrap();
    let mut d4 = disks[4].clone();
    assert!(apply_plan(&plan, &out, d4.sectors * 512, &mut d4.tail));
    let rec = &d4.tail[d4.primary() + 162 * 512..][..3584];
    assert_eq!(
        rec[70], 1,
        "secondary element sequence of the record on the new disk"
    );
}
