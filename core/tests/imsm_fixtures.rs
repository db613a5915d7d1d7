//! Golden fixtures from the real-kernel rig (mdadm 4.2 + the C mdmon): every IMSM disk image
//! parses, re-encodes byte-identically, renders the same `--examine` text as mdadm, and loads
//! as a container whose next write differs from the disk only in generation and checksum.

mod common;

use common::{Fixture, FixtureDisk};
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container, DiskSlot, MemberCopy};
use mdmon_core::imsm::examine::Examined;
use mdmon_core::imsm::model::{gather_mpb, Mpb, TailGeometry, MPB_BUF_LEN};

fn serial16(s: &str) -> [u8; 16] {
    let mut f = [0u8; 16];
    for (d, b) in f.iter_mut().zip(s.bytes()) {
        *d = b;
    }
    f
}

fn has_imsm(d: &FixtureDisk) -> bool {
    d.examine.contains("Magic : Intel Raid ISM Cfg Sig.")
}

fn fixtures() -> Vec<Fixture> {
    let all = common::load_all("imsm");
    if all.is_empty() {
        eprintln!("no IMSM fixtures yet (tests/fixtures/imsm): nothing to compare");
    }
    all
}

/// The serial the metadata uses for this disk: the hardware serial, or `/dev/<name>` when
/// the rig ran with IMSM_DEVNAME_AS_SERIAL.
fn own_serial(m: &Mpb, d: &FixtureDisk) -> Option<[u8; 16]> {
    [serial16(&d.serial), serial16(&format!("/dev/{}", d.name))]
        .into_iter()
        .find(|s| m.find_disk(s).is_some())
}

fn parse_disk(d: &FixtureDisk) -> (Mpb, Vec<u8>) {
    let mut buf = vec![0u8; MPB_BUF_LEN];
    let n = gather_mpb(&d.region, d.size, d.sector, &mut buf)
        .unwrap_or_else(|e| panic!("{}: gather: {e}", d.name));
    buf.truncate(n);
    let m = Mpb::parse(&buf, d.sector).unwrap_or_else(|e| panic!("{}: parse: {e}", d.name));
    (m, buf)
}

/// On-disk bytes of the MPB sectors in memory order, straight from the region.
fn disk_sectors(d: &FixtureDisk, sectors: usize) -> Vec<u8> {
    let lss = d.sector as usize;
    let geo = TailGeometry::new(d.size, d.sector).unwrap();
    let at = |off: u64| (off - d.region_offset) as usize;
    let mut out = d.region[at(geo.anchor_offset())..][..lss].to_vec();
    if sectors > 1 {
        let ext = at(geo.extended_offset(sectors as u64 - 1).unwrap());
        out.extend_from_slice(&d.region[ext..ext + (sectors - 1) * lss]);
    }
    out
}

#[test]
fn every_fixture_parses_and_round_trips_bit_exact() {
    let mut checked = 0;
    for f in fixtures() {
        for d in f.disks.iter().filter(|d| has_imsm(d)) {
            let (m, raw) = parse_disk(d);
            let size = m.mpb_size();
            // The MPB itself, serialised from the model alone.
            let mut out = vec![0u8; MPB_BUF_LEN];
            let n = m.encode(d.sector, &mut out).unwrap();
            let on_disk = disk_sectors(d, n / d.sector as usize);
            assert_eq!(raw.len(), on_disk.len());
            if out[..size] != on_disk[..size] {
                let first = out.iter().zip(&on_disk).position(|(a, b)| a != b).unwrap();
                panic!(
                    "{}/{}: re-encoded MPB differs from disk at byte {first}",
                    f.moment, d.name
                );
            }
            // Whole sectors, written the way mdmon writes: over the buffer it loaded (the
            // bytes past mpb_size are stale buffer contents on disk, not zeros).
            let mut canvas = raw.clone();
            canvas.resize(MPB_BUF_LEN, 0);
            let n2 = m.encode_over(d.sector, &mut canvas).unwrap();
            assert_eq!(n2, n);
            assert!(
                canvas[..n] == on_disk[..],
                "{}/{}: sectors differ",
                f.moment,
                d.name
            );
            checked += 1;
        }
    }
    eprintln!("round-tripped {checked} IMSM disk images");
}

/// `key : value` lines grouped by section header ("" for the container part).
fn fields(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with("]:") {
            section = t.to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once(" : ") {
            let key = k.trim().to_string();
            if key.starts_with("Disk") && key.ends_with("Serial") {
                section = key.clone();
            }
            out.push((section.clone(), key, v.trim().to_string()));
        }
    }
    out
}

#[test]
fn examine_matches_mdadm_field_by_field() {
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for f in fixtures() {
        for d in f.disks.iter().filter(|d| has_imsm(d)) {
            let (m, _) = parse_disk(d);
            let serial = own_serial(&m, d);
            let e = Examined::from_region(&d.region, d.size, d.sector, serial.as_ref()).unwrap();
            let mut ours = String::new();
            e.write_text(&mut ours).unwrap();
            let theirs = fields(&d.examine);
            let mine = fields(&ours);
            for (sec, key, val) in &theirs {
                compared += 1;
                match mine.iter().find(|(s, k, _)| s == sec && k == key) {
                    Some((_, _, v)) if v == val => {}
                    Some((_, _, v)) => mismatches.push(format!(
                        "{}/{} {sec} {key}: mdadm {val:?}, ours {v:?}",
                        f.moment, d.name
                    )),
                    None => mismatches.push(format!(
                        "{}/{} {sec} {key}: missing (mdadm {val:?})",
                        f.moment, d.name
                    )),
                }
            }
            for (sec, key, val) in &mine {
                if !theirs.iter().any(|(s, k, _)| s == sec && k == key) {
                    mismatches.push(format!(
                        "{}/{} {sec} {key}: extra ({val:?})",
                        f.moment, d.name
                    ));
                }
            }
        }
    }
    eprintln!("compared {compared} examine fields");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn fixture_containers_load_and_rewrite_like_mdmon() {
    let (mut members_checked, mut spares_checked) = (0, 0);
    for f in fixtures() {
        let disks: Vec<&FixtureDisk> = f.disks.iter().filter(|d| has_imsm(d)).collect();
        if disks.is_empty() {
            continue;
        }
        let parsed: Vec<Mpb> = disks.iter().map(|d| parse_disk(d).0).collect();
        let copies: Vec<MemberCopy> = disks
            .iter()
            .zip(&parsed)
            .enumerate()
            .map(|(i, (d, m))| MemberCopy {
                member: i as u32,
                region: &d.region,
                disk_bytes: d.size,
                sector_size: d.sector,
                serial: own_serial(m, d).unwrap_or_else(|| serial16(&d.serial)),
                dev: (8, 16 * i as u32),
            })
            .collect();
        let mut c = Container::load(&copies, Compat::Mdadm42)
            .unwrap_or_else(|e| panic!("{}: load: {e}", f.moment));
        // The champion carries the highest generation among members with volumes.
        let best = parsed
            .iter()
            .filter(|m| !m.volumes.is_empty())
            .map(|m| m.header.generation_num.get())
            .max();
        if let Some(g) = best {
            assert_eq!(
                c.mpb.header.generation_num.get(),
                g,
                "{}: champion generation",
                f.moment
            );
        }
        // Rewriting unchanged metadata: each member whose copy is the champion's gets the
        // same sectors with generation+1 and a fresh checksum; a spare gets its spare-only
        // record again, byte for byte (generation stays 1).
        let champion = c.mpb.clone();
        c.touch();
        let lss = c.sector_size as usize;
        let mut buf = vec![0u8; sync_buffer_len(lss)];
        let plan = c.sync_metadata(&mut buf).unwrap().unwrap();
        for (i, d) in disks.iter().enumerate() {
            let geo = TailGeometry::new(d.size, d.sector).unwrap();
            let anchor = plan
                .writes
                .iter()
                .find(|w| w.member == i as u32 && w.offset == geo.anchor_offset());
            let spare = c
                .disks
                .iter()
                .any(|p| p.member == i as u32 && p.slot == DiskSlot::Spare);
            let written = anchor.map(|a| &buf[a.buf_start..][..lss]);
            if spare {
                let written =
                    written.unwrap_or_else(|| panic!("{}/{}: spare not written", f.moment, d.name));
                // family_num of a spare record depends on upstream's static buffer history
                // (each further spare written by one process adds the previous family), so it
                // and the checksum are compared for consistency only.
                let mut ours = written.to_vec();
                let mut theirs = disk_sectors(d, 1);
                assert!(
                    Mpb::parse(&ours, d.sector).is_ok(),
                    "{}/{}: our spare record parses",
                    f.moment,
                    d.name
                );
                for b in [&mut ours, &mut theirs] {
                    b[32..36].fill(0);
                    b[40..44].fill(0);
                }
                assert_eq!(ours, theirs, "{}/{}: spare record", f.moment, d.name);
                spares_checked += 1;
                continue;
            }
            if parsed[i] != champion {
                continue;
            }
            let written =
                written.unwrap_or_else(|| panic!("{}/{}: no anchor write", f.moment, d.name));
            members_checked += 1;
            let sectors = champion.sectors(d.sector);
            let mut expect = disk_sectors(d, sectors);
            let gen = u32::from_le_bytes(expect[44..48].try_into().unwrap()) + 1;
            expect[44..48].copy_from_slice(&gen.to_le_bytes());
            let size = u32::from_le_bytes(expect[36..40].try_into().unwrap()) as usize;
            let mut sum = 0u32;
            expect[32..36].fill(0);
            for w in expect[..size].chunks_exact(4) {
                sum = sum.wrapping_add(u32::from_le_bytes(w.try_into().unwrap()));
            }
            expect[32..36].copy_from_slice(&sum.to_le_bytes());
            assert_eq!(
                written,
                &expect[..lss],
                "{}/{}: anchor as mdmon would write it",
                f.moment,
                d.name
            );
            if sectors > 1 {
                let ext = plan
                    .writes
                    .iter()
                    .find(|w| {
                        w.member == i as u32
                            && Some(w.offset) == geo.extended_offset(sectors as u64 - 1)
                    })
                    .unwrap_or_else(|| panic!("{}/{}: no extended write", f.moment, d.name));
                assert_eq!(
                    &buf[ext.buf_start..][..ext.len],
                    &expect[lss..],
                    "{}/{}: extended sectors",
                    f.moment,
                    d.name
                );
            }
        }
    }
    eprintln!("rewrote {members_checked} member and {spares_checked} spare records as mdmon would");
    if !fixtures().is_empty() {
        assert!(
            members_checked > 0 && spares_checked > 0,
            "fixtures exercise both kinds of record"
        );
    }
}
