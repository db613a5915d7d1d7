//! DDF against golden fixtures written by the real-kernel rig (Debian mdadm 4.2 + C mdmon).
//! Every fixture must parse, verify its CRCs, round-trip byte for byte and examine like mdadm.

mod common;

use common::{Fixture, FixtureDisk};
use mdmon_core::ddf::examine::{examine_member, ExamineStyle};
use mdmon_core::ddf::model::read_header_set;
use mdmon_core::ddf::write::apply_plan;
use mdmon_core::ddf::*;
use proptest::prelude::*;
use std::sync::OnceLock;

/// Loaded once per test binary: gunzipping 32 MiB per disk is the slow part.
fn fixtures() -> &'static [Fixture] {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    ALL.get_or_init(|| {
        let all = common::load_all("ddf");
        if all.is_empty() {
            eprintln!("no DDF fixtures yet (tests/fixtures/ddf); fixture tests are vacuous");
        }
        all
    })
}

fn input(d: &FixtureDisk, id: usize) -> MemberInput<'_> {
    MemberInput {
        id: DiskId(id as u64),
        disk_bytes: d.size,
        sector_size: d.sector,
        tail: &d.region,
    }
}

/// Disks of a fixture that carry DDF metadata (a wiped or foreign disk may sit beside them).
fn ddf_disks(f: &Fixture) -> Vec<(usize, &FixtureDisk)> {
    f.disks
        .iter()
        .enumerate()
        .filter(|(i, d)| read_header_set(&input(d, *i)).is_ok())
        .collect()
}

fn load(f: &Fixture) -> Box<Container> {
    let disks = ddf_disks(f);
    let inputs: Vec<_> = disks.iter().map(|(i, d)| input(d, *i)).collect();
    let mut c = Box::new(Container::new());
    c.load(&inputs)
        .unwrap_or_else(|e| panic!("{}: load: {e:?}", f.moment));
    c
}

#[test]
fn every_fixture_loads_with_valid_crcs() {
    for f in fixtures() {
        let disks = ddf_disks(f);
        assert!(!disks.is_empty(), "{}: no disk with DDF metadata", f.moment);
        let c = load(f);
        assert_eq!(c.disks.len(), disks.len());
        // mdadm writes every section with a correct CRC and signature.
        assert!(c.findings.is_empty(), "{}: {:?}", f.moment, c.findings);
        assert!(c.bvds.iter().all(|b| b.crc_ok), "{}", f.moment);
        for (i, d) in &disks {
            let set = read_header_set(&input(d, *i)).unwrap();
            assert!(
                set.primary.is_ok() && set.secondary.is_ok(),
                "{} {}: {:?}",
                f.moment,
                d.name,
                set
            );
            assert!(crc::crc_ok(&d.region[d.region.len() - 512..]), "anchor CRC");
        }
        for d in c.disks.iter() {
            assert!(
                d.pd_index.is_some(),
                "{}: disk {:?} has no PD entry",
                f.moment,
                d.id
            );
        }
        // Every VD entry in use has all its BVDs (docs/ddf.md, "Every VD has all its BVDs").
        for (vcnum, e) in c.vds.iter().enumerate() {
            if e.guid == layout::UNUSED_GUID {
                continue;
            }
            let vol = c
                .volume(&e.guid)
                .unwrap_or_else(|| panic!("{}: VD {vcnum} has no config", f.moment));
            for k in 0..vol.sec_count {
                assert!(
                    c.bvd(&e.guid, k).is_some(),
                    "{}: VD {vcnum} BVD {k}",
                    f.moment
                );
            }
        }
    }
}

/// Byte range (in `region`) of the header copy at `lba`, 618 sectors as mdadm lays it out.
fn copy_range(d: &FixtureDisk, lba: u64) -> std::ops::Range<usize> {
    let start = (lba * 512 - d.region_offset) as usize;
    start..start + 618 * 512
}

/// Whether mdadm left the disk's two copies in agreement (everything but CRC and type).
fn copies_agree(d: &FixtureDisk, set: &model::HeaderSet) -> bool {
    let p = &d.region[copy_range(d, set.anchor.primary_lba.get())];
    let s = &d.region[copy_range(d, set.anchor.secondary_lba.get())];
    p[8..112] == s[8..112] && p[113..] == s[113..]
}

#[test]
fn every_fixture_round_trips_byte_for_byte() {
    for f in fixtures() {
        let c = load(f);
        let mut buf = vec![0u8; c.image_len()];
        for (k, disk) in c.disks.iter().enumerate() {
            let fd = &f.disks[disk.id.0 as usize];
            let set = read_header_set(&input(fd, 0)).unwrap();
            let plan = c.write_disk(k, &mut buf).unwrap();
            // mdadm's layout is contiguous: each copy is one write between its header writes.
            assert_eq!(plan.coalesced().ops.len(), 7);
            let plan = plan.coalesced();
            let mut region = fd.region.clone();
            assert!(
                apply_plan(&plan, &buf, fd.size, &mut region),
                "{} {}: plan outside region",
                f.moment,
                fd.name
            );
            // A disk whose copies disagree (a write batch reached only its primary) is
            // rewritten whole from the chosen copy: compare that copy and the anchor, and
            // check the other copy now matches it.
            let compared: Vec<std::ops::Range<usize>> = if copies_agree(fd, &set) {
                std::iter::once(0..region.len()).collect()
            } else {
                eprintln!(
                    "{} {}: primary and secondary copies differ on disk",
                    f.moment, fd.name
                );
                let active = copy_range(fd, set.active_lba());
                let other = match set.active {
                    model::CopyKind::Primary => copy_range(fd, set.anchor.secondary_lba.get()),
                    model::CopyKind::Secondary => copy_range(fd, set.anchor.primary_lba.get()),
                };
                assert_eq!(
                    region[active.start + 8..active.start + 112],
                    region[other.start + 8..other.start + 112]
                );
                assert_eq!(
                    region[active.start + 113..active.end],
                    region[other.start + 113..other.end]
                );
                vec![active, region.len() - 512..region.len()]
            };
            for r in compared {
                if region[r.clone()] != fd.region[r.clone()] {
                    let first = r.start
                        + region[r.clone()]
                            .iter()
                            .zip(&fd.region[r.clone()])
                            .position(|(a, b)| a != b)
                            .unwrap();
                    let abs = fd.region_offset + first as u64;
                    panic!(
                        "{} {}: byte {} (disk LBA {} +{}) differs: wrote {:02x}, mdadm had {:02x}",
                        f.moment,
                        fd.name,
                        first,
                        abs / 512,
                        abs % 512,
                        region[first],
                        fd.region[first]
                    );
                }
            }
        }
    }
}

/// `mdadm --examine` lines from the first field line on (drops the "/dev/x:" heading and
/// anything mdadm prints before the DDF part).
fn examine_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(p) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("Magic :"))
    {
        lines.drain(..p);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

#[test]
fn examine_matches_mdadm_line_by_line() {
    let mut compared = 0;
    for f in fixtures() {
        for (i, d) in ddf_disks(f) {
            if d.examine.is_empty() {
                continue;
            }
            let mut scratch = Box::new(Container::new());
            let mut out = String::new();
            let name = format!("/dev/{}", d.name);
            examine_member(
                &input(d, i),
                Some(&name),
                ExamineStyle::Text { tz_offset: 0 },
                &mut scratch,
                &mut out,
            )
            .unwrap();
            let want = examine_lines(&d.examine);
            let got = examine_lines(&out);
            for (n, (w, g)) in want.iter().zip(got.iter()).enumerate() {
                assert_eq!(
                    g, w,
                    "{} {} line {}:\n--- mdadm\n{}\n--- ours\n{}",
                    f.moment, d.name, n, d.examine, out
                );
            }
            assert_eq!(
                got.len(),
                want.len(),
                "{} {}:\n--- mdadm\n{}\n--- ours\n{}",
                f.moment,
                d.name,
                d.examine,
                out
            );
            compared += 1;
        }
    }
    assert!(
        fixtures().is_empty() || compared > 0,
        "no examine output compared"
    );
    eprintln!("compared {compared} examine outputs");
}

#[test]
fn json_agrees_with_the_model() {
    for f in fixtures() {
        let c = load(f);
        let mut j = String::new();
        examine::examine_json(&c, &[], true, &mut j).unwrap();
        assert!(j.starts_with("{\"format\":\"ddf\",\"family\":\""));
        assert!(j.contains(&format!("\"generation\":{}", c.header.seq.get())));
        let used = c
            .pds
            .iter()
            .filter(|p| p.refnum.get() != 0xFFFF_FFFF)
            .count();
        assert_eq!(j.matches("\"config_size\"").count(), used);
        let vols = c
            .vds
            .iter()
            .filter(|v| v.guid != layout::UNUSED_GUID)
            .count();
        assert_eq!(j.matches("\"init_state\"").count(), vols);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Flip bytes inside the metadata copies of a real fixture: errors, never panics.
    #[test]
    fn mutated_fixture_bytes_never_panic(pick in any::<usize>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16), reseal in any::<bool>()) {
        let all = fixtures();
        if all.is_empty() {
            return Ok(());
        }
        let f = &all[pick % all.len()];
        let d = &f.disks[pick / all.len() % f.disks.len()];
        let mut region = d.region.clone();
        let set = read_header_set(&input(d, 0));
        // Aim at the copies (header + sections) when they are known, else anywhere.
        let (lo, len) = match &set {
            Ok(s) => {
                let start = s.anchor.secondary_lba.get().min(s.anchor.primary_lba.get()) * 512;
                let lo = start.saturating_sub(d.region_offset) as usize;
                (lo.min(region.len() - 1), (618 * 512 + 32768 * 512).min(region.len() - lo.min(region.len() - 1)))
            }
            Err(_) => (0, region.len()),
        };
        for (o, v) in &flips {
            let at = lo + o % len.max(1);
            region[at] = *v;
        }
        if reseal {
            if let Ok(s) = &set {
                for lba in [s.anchor.primary_lba.get(), s.anchor.secondary_lba.get()] {
                    if let Some(off) = (lba * 512).checked_sub(d.region_offset) {
                        let off = off as usize;
                        if off + 512 <= region.len() {
                            crc::seal(&mut region[off..off + 512]);
                        }
                    }
                }
            }
        }
        let m = MemberInput { id: DiskId(0), disk_bytes: d.size, sector_size: d.sector, tail: &region };
        let mut c = Box::new(Container::new());
        if c.load(&[m]).is_ok() {
            let mut buf = vec![0u8; c.image_len().min(64 << 20)];
            let _ = c.write_disk(0, &mut buf);
            let mut s = String::new();
            let _ = examine::examine_text(&c, &[], true, 0, &mut s);
            let _ = examine::examine_json(&c, &[], true, &mut s);
        }
    }
}

fn fixture(moment: &str) -> Option<&'static Fixture> {
    fixtures().iter().find(|f| f.moment == moment)
}

/// Disk id (index into the fixture's disks) by device name.
fn id_of(f: &Fixture, name: &str) -> DiskId {
    DiskId(f.disks.iter().position(|d| d.name == name).unwrap() as u64)
}

/// Replay what the C mdmon did between `03-r1-dirty` and `04-failed` (sdb fails in r1 and r5,
/// both rebuild onto the spare sdd, both go clean) and compare with what it wrote.
#[test]
fn replayed_failure_and_rebuild_matches_mdadm() {
    let (Some(before), Some(after)) = (fixture("03-r1-dirty"), fixture("04-failed")) else {
        eprintln!("fixtures 03-r1-dirty / 04-failed missing; replay skipped");
        return;
    };
    let mut c = load(before);
    let want = load(after);
    let (sda, sdb, sdc, sdd) = (
        id_of(before, "sda"),
        id_of(before, "sdb"),
        id_of(before, "sdc"),
        id_of(before, "sdd"),
    );
    let (r1, r5) = (0u16, 1u16);
    let seq0 = c.header.seq.get();
    use ops::{ArrayInfo, ArrayMember, Consistency, DeviceState, ResyncProgress};
    // sdb is slot 1 of both volumes; md reports it faulty in each.
    assert!(
        c.set_disk(r1, 1, Some((sdb, 0)), DeviceState::FAULTY, 100)
            .unwrap()
            .changed
    );
    assert!(
        c.set_disk(r5, 1, Some((sdb, 65536)), DeviceState::FAULTY, 100)
            .unwrap()
            .changed
    );
    assert_eq!(VdState::from_byte(c.vds[0].state), VdState::Degraded);
    let ctx = c.update_context().unwrap();
    let mut buf = vec![0u8; 4 * 3584];
    for (vcnum, level, layout, raid_disks, size, members) in [
        (
            r1,
            1,
            0,
            2,
            65536,
            vec![ArrayMember {
                slot: 0,
                id: sda,
                faulty: false,
            }],
        ),
        (
            r5,
            5,
            2,
            3,
            65536,
            vec![
                ArrayMember {
                    slot: 0,
                    id: sda,
                    faulty: false,
                },
                ArrayMember {
                    slot: 2,
                    id: sdc,
                    faulty: false,
                },
            ],
        ),
    ] {
        let info = ArrayInfo {
            vcnum,
            level,
            layout,
            raid_disks,
            component_size: size,
            members: &members,
        };
        let plan = c
            .activate_spare(&info, &mut buf)
            .unwrap()
            .expect("spare chosen");
        assert_eq!(plan.choices.len(), 1);
        assert_eq!((plan.choices[0].slot, plan.choices[0].id), (1, sdd));
        let p = ctx.prepare(&buf[..plan.update_len]).unwrap();
        assert!(c.process_update(p, 101).changed);
    }
    // sdd is being rebuilt into both: r1 reporting it in sync changes nothing on disk
    // (it stays Rebuilding, so r1 still reads Degraded) until r5 does too.
    for (vcnum, offset, changes) in [(r1, 0, false), (r5, 65536, true)] {
        assert_eq!(
            c.set_disk(vcnum, 1, Some((sdd, offset)), DeviceState::IN_SYNC, 102)
                .unwrap()
                .changed,
            changes
        );
        c.set_array_state(vcnum, Consistency::Clean, ResyncProgress::Complete, 103)
            .unwrap();
    }
    assert_eq!(c.header.seq.get(), seq0 + 1, "one pending batch");

    // PD and VD tables: byte for byte what the C mdmon wrote.
    for i in 0..5 {
        assert_eq!(c.pds[i], want.pds[i], "PD entry {i}");
    }
    assert_eq!(c.phys.used_pdes, want.phys.used_pdes);
    for i in 0..3 {
        assert_eq!(
            (c.vds[i].state, c.vds[i].init_state),
            (want.vds[i].state, want.vds[i].init_state),
            "VD {i}"
        );
    }
    // Records: same elements; sequence one higher than the C mdmon's per spare activation
    // (docs/ddf.md, "Sequence bump after a VD_CONF update": the stored record is bumped, not
    // the update buffer).
    for v in want.volumes.iter() {
        let (ours, theirs) = (c.bvd(&v.guid, 0).unwrap(), want.bvd(&v.guid, 0).unwrap());
        assert_eq!(ours.elements, theirs.elements);
        assert_eq!(ours.seq(), theirs.seq() + 1);
    }
    // Every disk carries the same records in the same slots.
    for d in want.disks.iter() {
        let ours = &c.disks[c.disk_by_id(d.id).unwrap()];
        let live = |c: &Container, disk: &Disk| -> Vec<layout::Guid> {
            disk.slots
                .iter()
                .filter_map(|s| match s {
                    ConfigSlot::Volume(g) if c.bvd_listing(g, disk.refnum()).is_some() => Some(*g),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            live(&c, ours),
            live(&want, d),
            "config records of {:?}",
            d.id
        );
    }
}

/// 02 → 03: r1 went dirty. One `set_array_state(dirty)` reproduces the VD table.
#[test]
fn replayed_dirty_mark_matches_mdadm() {
    let (Some(before), Some(after)) = (fixture("02-volumes-resynced"), fixture("03-r1-dirty"))
    else {
        return;
    };
    let mut c = load(before);
    let want = load(after);
    use ops::{Consistency, ResyncProgress};
    let (clean, o) = c
        .set_array_state(0, Consistency::Dirty, ResyncProgress::Complete, 1)
        .unwrap();
    assert!(!clean && o.changed);
    let (_, o) = c
        .set_array_state(1, Consistency::Clean, ResyncProgress::Complete, 1)
        .unwrap();
    assert!(!o.changed, "r5 was already clean");
    assert!(c.vds == want.vds);
    assert!(c.pds == want.pds);
    for v in want.volumes.iter() {
        assert_eq!(
            c.bvd(&v.guid, 0),
            want.bvd(&v.guid, 0),
            "state changes leave records alone"
        );
    }
}

/// 01 → 02: mdadm created r1 and r5 in the running container by sending VIRT and VD_CONF
/// updates; then both resynced and went clean. Replaying those updates yields 02's tables.
#[test]
fn replayed_volume_creation_matches_mdadm() {
    let (Some(before), Some(after)) = (fixture("01-container"), fixture("02-volumes-resynced"))
    else {
        return;
    };
    let mut c = load(before);
    let want = load(after);
    assert!(c.volumes.is_empty());
    let ctx = c.update_context().unwrap();
    use zerocopy::IntoBytes;
    // Creation order: VD entry 0 (r1) first, then 1 (r5); each VIRT then its VD_CONF.
    for vcnum in 0..2usize {
        let entry = want.vds[vcnum];
        let mut virt = vec![0xFFu8; 128];
        virt[..4].copy_from_slice(&0xDDDD_DDDDu32.to_be_bytes());
        virt[8..10].copy_from_slice(&(vcnum as u16).to_be_bytes());
        virt[64..].copy_from_slice(entry.as_bytes());
        // The sender's slot (populated_vdes) is ignored: the first unused entry is taken.
        assert!(c.process_update(ctx.prepare(&virt).unwrap(), 10).changed);
        let bvd = want.bvd(&entry.guid, 0).unwrap();
        let mut conf = vec![0u8; bvd.encoded_len()];
        assert!(bvd.encode(&mut conf));
        assert!(c.process_update(ctx.prepare(&conf).unwrap(), 11).changed);
    }
    use ops::{Consistency, ResyncProgress};
    for vcnum in 0..2 {
        c.set_array_state(vcnum, Consistency::Clean, ResyncProgress::Complete, 12)
            .unwrap();
    }
    assert!(c.vds == want.vds, "VD table");
    for i in 0..5 {
        assert_eq!(
            c.pds[i], want.pds[i],
            "PD entry {i}: members become active, the spare stays global"
        );
    }
    assert_eq!(c.virt.populated_vdes, want.virt.populated_vdes);
    for v in want.volumes.iter() {
        let ours = c.bvd(&v.guid, 0).unwrap();
        assert_eq!(
            ours.fixed.seq,
            want.bvd(&v.guid, 0).unwrap().fixed.seq,
            "a new VD keeps the sender's sequence"
        );
    }
    // The newest VD comes first in the list, so slot 0 of a disk in both holds r5.
    for d in want.disks.iter() {
        let ours = &c.disks[c.disk_by_id(d.id).unwrap()];
        assert_eq!(&ours.slots[..3], &d.slots[..3], "slots of {:?}", d.id);
    }
}

/// 07: mdadm's RAID10 (two RAID1 BVDs of two disks, spanned) and a RAID0 side by side.
#[test]
fn raid10_fixture_maps_slots_and_states() {
    let Some(f) = fixture("07-raid0-raid10") else {
        return;
    };
    let mut c = load(f);
    let r10 = c
        .vds
        .iter()
        .position(|v| c.volume(&v.guid).is_some_and(|vol| vol.sec_count == 2))
        .expect("a two-BVD VD") as u16;
    let guid = c.vd_guid(r10).unwrap();
    // md slot n = BVD index × 2 + element (dense elements, as mdadm writes them).
    for slot in 0..4u32 {
        assert_eq!(
            c.slot_element(&guid, slot),
            Some(((slot / 2) as u8, (slot % 2) as usize)),
            "slot {slot}"
        );
    }
    assert_eq!(c.slot_element(&guid, 4), None);
    assert_eq!(c.volume_state(&guid), Some(VdState::Optimal));
    use ops::DeviceState;
    // Fail the disk in md slot 2 (first element of the second mirror).
    let e = c.bvd(&guid, 1).unwrap().elements[0];
    let disk = c.disks[c.disk_by_refnum(e.refnum).unwrap()].id;
    c.set_disk(r10, 2, Some((disk, e.lba)), DeviceState::FAULTY, 1)
        .unwrap();
    assert_eq!(
        VdState::from_byte(c.vds[usize::from(r10)].state),
        VdState::Degraded
    );
    assert!(c.refnum_state(e.refnum).contains(PdState::FAILED));
    // Its mirror partner too: that half of the data is gone.
    let e2 = c.bvd(&guid, 1).unwrap().elements[1];
    let disk2 = c.disks[c.disk_by_refnum(e2.refnum).unwrap()].id;
    c.set_disk(r10, 3, Some((disk2, e2.lba)), DeviceState::FAULTY, 1)
        .unwrap();
    assert_eq!(
        VdState::from_byte(c.vds[usize::from(r10)].state),
        VdState::Failed
    );
    // The RAID0 fails with any member.
    let r0 = (0..2u16).find(|&v| v != r10).unwrap();
    let g0 = c.vd_guid(r0).unwrap();
    let e = c.bvd(&g0, 0).unwrap().elements[0];
    let disk = c.disks[c.disk_by_refnum(e.refnum).unwrap()].id;
    c.set_disk(r0, 0, Some((disk, e.lba)), DeviceState::FAULTY, 2)
        .unwrap();
    assert_eq!(
        VdState::from_byte(c.vds[usize::from(r0)].state),
        VdState::Failed
    );
}

/// Disks mdadm finds no superblock on are not DDF to us either.
#[test]
fn disks_without_metadata_are_not_ddf() {
    let mut seen = 0;
    for f in fixtures() {
        for (i, d) in f.disks.iter().enumerate() {
            let m = input(d, i);
            let mdadm_none = d.examine.contains("No md superblock detected");
            assert_eq!(
                examine::has_anchor(&m),
                !mdadm_none,
                "{} {}",
                f.moment,
                d.name
            );
            if mdadm_none {
                seen += 1;
                let mut scratch = Box::new(Container::new());
                let mut out = String::new();
                let r = examine_member(&m, None, ExamineStyle::Json, &mut scratch, &mut out);
                assert!(matches!(r, Err(examine::ExamineError::Load(_))));
            }
        }
    }
    eprintln!("{seen} disks without metadata");
}

/// Our DDF CRC (own tables: the monitor path must not reach crc32fast's bounds checks, see
/// core/src/ddf/crc.rs) equals crc32fast's on every fixture disk's metadata: the whole
/// region, every sector, and every sector-aligned run up to 64 KiB from each MiB.
#[test]
fn crc_equals_crc32fast_on_every_fixture() {
    fn via_crc32fast(bytes: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
        h.update(bytes);
        !h.finalize()
    }
    let mut compared = 0usize;
    for f in fixtures() {
        for d in &f.disks {
            let r = &d.region;
            assert_eq!(crc::raw_crc(r), via_crc32fast(r), "{}/{}", f.moment, d.name);
            for s in r.chunks(512) {
                assert_eq!(crc::raw_crc(s), via_crc32fast(s));
                let mut sub = s.to_vec();
                if let Some(field) = sub.get_mut(crc::CRC_FIELD) {
                    field.fill(0xFF);
                }
                assert_eq!(crc::ddf_crc(s), via_crc32fast(&sub));
                compared += 1;
            }
            for start in (0..r.len()).step_by(1 << 20) {
                for len in (512..=65536).step_by(4096 + 512) {
                    if let Some(s) = r.get(start..start + len) {
                        assert_eq!(crc::raw_crc(s), via_crc32fast(s));
                        compared += 1;
                    }
                }
            }
        }
    }
    if !fixtures().is_empty() {
        assert!(compared > 0);
    }
}
