//! Golden fixtures from the real-kernel rig (mdadm 4.2 + the C mdmon): every IMSM disk image
//! parses, re-encodes byte-identically, renders the same `--examine` text as mdadm, and loads
//! as a container whose next write differs from the disk only in generation and checksum.

mod common;

use common::{Fixture, FixtureDisk};
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container, DiskSlot, MemberCopy};
use mdmon_core::imsm::examine::Examined;
use mdmon_core::imsm::model::{gather_mpb, Mpb, TailGeometry, MPB_BUF_LEN};

use common::serial16;

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
            // Beyond the fields: the whole text equals mdadm's, after its "/dev/<name>:" line.
            let body = d.examine.split_once('\n').map_or("", |(_, rest)| rest);
            if ours != body {
                let line = ours.lines().zip(body.lines()).position(|(a, b)| a != b);
                mismatches.push(format!(
                    "{}/{}: text differs at line {line:?}",
                    f.moment, d.name
                ));
            }
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
            let spare = c
                .disks
                .iter()
                .any(|p| p.member == i as u32 && p.slot == DiskSlot::Spare);
            let written = landing(&plan, &buf, i as u32, geo.anchor_offset(), lss);
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
                let at = geo.extended_offset(sectors as u64 - 1).unwrap();
                let ext = landing(&plan, &buf, i as u32, at, (sectors - 1) * lss)
                    .unwrap_or_else(|| panic!("{}/{}: no extended write", f.moment, d.name));
                assert_eq!(
                    ext,
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

/// Minimal JSON reader, enough to check the `--examine --json` documents are well formed
/// and to look fields up.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(kv) => kv
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or(&Json::Null),
            _ => &Json::Null,
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }
}

fn parse_json(text: &str) -> Json {
    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn value(b: &[u8], i: &mut usize) -> Json {
        ws(b, i);
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut kv = Vec::new();
                ws(b, i);
                if b[*i] == b'}' {
                    *i += 1;
                    return Json::Obj(kv);
                }
                loop {
                    ws(b, i);
                    let Json::Str(k) = value(b, i) else {
                        panic!("key at {i}")
                    };
                    ws(b, i);
                    assert_eq!(b[*i], b':', "colon at {i}");
                    *i += 1;
                    kv.push((k, value(b, i)));
                    ws(b, i);
                    *i += 1;
                    match b[*i - 1] {
                        b',' => continue,
                        b'}' => return Json::Obj(kv),
                        c => panic!("unexpected {:?} at {i}", c as char),
                    }
                }
            }
            b'[' => {
                *i += 1;
                let mut a = Vec::new();
                ws(b, i);
                if b[*i] == b']' {
                    *i += 1;
                    return Json::Arr(a);
                }
                loop {
                    a.push(value(b, i));
                    ws(b, i);
                    *i += 1;
                    match b[*i - 1] {
                        b',' => continue,
                        b']' => return Json::Arr(a),
                        c => panic!("unexpected {:?} at {i}", c as char),
                    }
                }
            }
            b'"' => {
                *i += 1;
                let mut s = String::new();
                while b[*i] != b'"' {
                    if b[*i] == b'\\' {
                        *i += 1;
                        match b[*i] {
                            b'u' => {
                                let hex = std::str::from_utf8(&b[*i + 1..*i + 5]).unwrap();
                                s.push(
                                    char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap(),
                                );
                                *i += 4;
                            }
                            c => s.push(c as char),
                        }
                    } else {
                        assert!(b[*i] >= 0x20, "raw control character in string");
                        s.push(b[*i] as char);
                    }
                    *i += 1;
                }
                *i += 1;
                Json::Str(s)
            }
            b't' => {
                *i += 4;
                Json::Bool(true)
            }
            b'f' => {
                *i += 5;
                Json::Bool(false)
            }
            b'n' => {
                *i += 4;
                Json::Null
            }
            _ => {
                let start = *i;
                while *i < b.len() && (b[*i] == b'-' || b[*i] == b'.' || b[*i].is_ascii_digit()) {
                    *i += 1;
                }
                Json::Num(std::str::from_utf8(&b[start..*i]).unwrap().parse().unwrap())
            }
        }
    }
    let b = text.as_bytes();
    let mut i = 0;
    let v = value(b, &mut i);
    ws(b, &mut i);
    assert_eq!(i, b.len(), "trailing bytes after the document");
    v
}

#[test]
fn examine_json_is_well_formed_and_agrees_with_mdadm() {
    let mut checked = 0;
    for f in fixtures() {
        for d in f.disks.iter().filter(|d| has_imsm(d)) {
            let (m, _) = parse_disk(d);
            let serial = own_serial(&m, d);
            let e = Examined::from_region(&d.region, d.size, d.sector, serial.as_ref()).unwrap();
            let mut text = String::new();
            e.write_json(&mut text).unwrap();
            let doc = parse_json(&text);
            let mdadm = fields(&d.examine);
            let field = |sec: &str, key: &str| {
                mdadm
                    .iter()
                    .find(|(s, k, _)| s == sec && k == key)
                    .map(|(_, _, v)| v.clone())
                    .unwrap()
            };
            let hex = |s: String| u32::from_str_radix(&s, 16).unwrap() as f64;
            assert_eq!(doc.get("format").str(), "imsm");
            assert_eq!(doc.get("family").num(), hex(field("", "Family")));
            assert_eq!(doc.get("generation").num(), hex(field("", "Generation")));
            assert_eq!(doc.get("uuid").str(), field("", "UUID"));
            assert_eq!(doc.get("disks").arr().len().to_string(), field("", "Disks"));
            let vols = doc.get("volumes").arr();
            assert_eq!(vols.len().to_string(), field("", "RAID Devices"));
            for v in vols {
                let sec = format!("[{}]:", v.get("name").str());
                assert_eq!(v.get("uuid").str(), field(&sec, "UUID"));
                assert_eq!(
                    v.get("raid_level").num().to_string(),
                    field(&sec, "RAID Level").split(' ').next().unwrap()
                );
                assert_eq!(
                    v.get("map_state").str(),
                    field(&sec, "Map State").split(' ').next().unwrap()
                );
                assert_eq!(
                    if v.get("dirty") == &Json::Bool(true) {
                        "dirty"
                    } else {
                        "clean"
                    },
                    field(&sec, "Dirty State")
                );
                assert_eq!(
                    v.get("size_sectors").num().to_string(),
                    field(&sec, "Array Size").split(' ').next().unwrap()
                );
            }
            for disk in doc.get("disks").arr() {
                if let Json::Num(i) = disk.get("index") {
                    let sec = format!("Disk{:02} Serial", *i as u32);
                    assert_eq!(disk.get("serial").str(), field(&sec, &sec));
                }
            }
            checked += 1;
        }
    }
    eprintln!("checked {checked} JSON documents");
}

/// The bytes the plan puts at `offset..offset + len` of `member`, if one write covers them.
fn landing<'b>(
    plan: &mdmon_core::imsm::container::WritePlan,
    buf: &'b [u8],
    member: u32,
    offset: u64,
    len: usize,
) -> Option<&'b [u8]> {
    plan.writes.iter().find_map(|w| {
        let end = w.offset + w.len as u64;
        (w.member == member && w.offset <= offset && offset + len as u64 <= end)
            .then(|| &buf[w.buf_start + (offset - w.offset) as usize..][..len])
    })
}
