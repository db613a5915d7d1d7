//! Writes the seed corpus of every fuzz target, built from the golden fixtures
//! (`tests/fixtures`), into `<out>/<target>/`: `cargo run --no-default-features --bin seeds
//! -- <out>`. Seeds are generated at each run instead of committed (a DDF seed holds four
//! member tails, about 2.5 MB).

use std::path::Path;

use mdmon_core::imsm;
use mdmon_core::imsm::update::{encode, Update};
use mdmon_core_fuzz::targets::*;

fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: seeds <output directory>");
    let out = Path::new(&out);
    let mut total = 0;
    for (target, seeds) in [
        ("imsm_load", imsm_load_seeds()),
        ("ddf_load", ddf_load_seeds()),
        ("update", update_seeds()),
        ("protocol", protocol_seeds()),
        ("parsers", parser_seeds()),
        ("examine", examine_seeds()),
    ] {
        let dir = out.join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).expect("write a seed");
        }
        println!("{target}: {} seeds", seeds.len());
        total += seeds.len();
    }
    assert!(total > 0);
}

/// Every IMSM moment: (serial, trimmed tail, sector size) per disk.
fn imsm_moments() -> Vec<Vec<([u8; 16], Tail, u32)>> {
    moments("imsm")
        .iter()
        .map(|dir| {
            fixture_disks(dir)
                .iter()
                .map(|d| {
                    (
                        serial16(&d.serial),
                        imsm_trim(&d.tail, d.sector as usize),
                        d.sector,
                    )
                })
                .collect()
        })
        .collect()
}

fn ddf_moments() -> Vec<Vec<Tail>> {
    moments("ddf")
        .iter()
        .map(|dir| {
            fixture_disks(dir)
                .iter()
                // A disk the container never used has no metadata to compact.
                .filter_map(|d| ddf_compact(&d.tail))
                .collect()
        })
        .collect()
}

/// Trimming must not change what loads: each moment loads the same from whole regions.
fn check_trim() {
    use mdmon_core::imsm::container::{Compat, Container, MemberCopy};
    for dir in moments("imsm") {
        let disks = fixture_disks(&dir);
        let load = |trim: bool| {
            let tails: Vec<Tail> = disks
                .iter()
                .map(|d| {
                    if trim {
                        imsm_trim(&d.tail, d.sector as usize)
                    } else {
                        d.tail.clone()
                    }
                })
                .collect();
            let copies: Vec<MemberCopy> = disks
                .iter()
                .zip(&tails)
                .enumerate()
                .map(|(i, (d, t))| MemberCopy {
                    member: i as u32,
                    region: &t.bytes,
                    disk_bytes: t.disk_bytes,
                    sector_size: d.sector,
                    serial: serial16(&d.serial),
                    dev: (8, 16 * i as u32),
                })
                .collect();
            Container::load(&copies, Compat::Mdadm46).map(|c| (c.mpb, c.migr_rec))
        };
        assert_eq!(
            load(true),
            load(false),
            "{}: trimmed regions load differently",
            dir.display()
        );
    }
}

fn imsm_member_of(serial: &[u8; 16], t: &Tail, lss: u32) -> Vec<u8> {
    let extra = (t.disk_bytes - t.bytes.len() as u64) / u64::from(lss);
    imsm_member_bytes(serial, extra as u32, &t.bytes)
}

fn ddf_member_of(t: &Tail) -> Vec<u8> {
    ddf_member_bytes(
        ((t.disk_bytes - t.bytes.len() as u64) / 512) as u32,
        &t.bytes,
    )
}

/// Whole containers, and members of neighbouring moments mixed (same family, other
/// generations; a disk's serial on another disk's metadata), so the vote has work.
fn imsm_load_seeds() -> Vec<Vec<u8>> {
    check_trim();
    let all = imsm_moments();
    let mut out = Vec::new();
    for (k, disks) in all.iter().enumerate() {
        let lss = disks[0].2;
        let ctrl = u8::from(lss == 4096);
        let whole: Vec<_> = disks
            .iter()
            .map(|(s, t, l)| imsm_member_of(s, t, *l))
            .collect();
        out.push(join(&[ctrl], &whole));
        out.push(join(&[ctrl | 2], &whole));
        if let Some(next) = all.get(k + 1) {
            let mixed: Vec<_> = disks
                .iter()
                .zip(next)
                .enumerate()
                .map(|(i, (a, b))| {
                    let (s, t, l) = if i % 2 == 0 { a } else { b };
                    imsm_member_of(s, t, *l)
                })
                .collect();
            out.push(join(&[ctrl], &mixed));
            let same_disk = [
                imsm_member_of(&disks[0].0, &disks[0].1, lss),
                imsm_member_of(&next[0].0, &next[0].1, lss),
            ];
            out.push(join(&[ctrl], &same_disk));
        }
        if disks.len() >= 2 {
            let swapped = [
                imsm_member_of(&disks[1].0, &disks[0].1, lss),
                imsm_member_of(&disks[0].0, &disks[1].1, lss),
            ];
            out.push(join(&[ctrl], &swapped));
        }
    }
    out
}

fn ddf_load_seeds() -> Vec<Vec<u8>> {
    let all = ddf_moments();
    let mut out = Vec::new();
    for (k, tails) in all.iter().enumerate() {
        let whole: Vec<_> = tails.iter().map(ddf_member_of).collect();
        out.push(join(&[0], &whole));
        out.push(join(&[0], &whole[..1]));
        if let Some(next) = all.get(k + 1) {
            out.push(join(
                &[0],
                &[ddf_member_of(&tails[0]), ddf_member_of(&next[1])],
            ));
        }
    }
    out
}

/// For every golden container: each IMSM update type once (CREATE_ARRAY copies a volume
/// the container has), or each DDF record kind taken from the container's own sections.
fn update_seeds() -> Vec<Vec<u8>> {
    let l = loaded();
    let mut out = Vec::new();
    for (i, (c, _)) in l.imsm.iter().enumerate() {
        let sel = i as u8;
        let payloads = imsm_payloads(c);
        for p in &payloads {
            out.push(join(&[sel], std::slice::from_ref(p)));
        }
        out.push(join(&[sel], &payloads));
    }
    for (i, (_, tails)) in l.ddf.iter().enumerate() {
        let sel = 0x80 | i as u8;
        let payloads = ddf_payloads(&tails[0]);
        for p in &payloads {
            out.push(join(&[sel], std::slice::from_ref(p)));
        }
        out.push(join(&[sel], &payloads));
    }
    out
}

fn imsm_payloads(c: &imsm::container::Container) -> Vec<Vec<u8>> {
    let mut name = [0u8; 16];
    name[..7].copy_from_slice(b"renamed");
    let mut updates = vec![
        Update::KillArray { dev_idx: 1 },
        Update::RenameArray { name, dev_idx: 0 },
        Update::GeneralMigrationCheckpoint { curr_migr_unit: 5 },
        Update::SizeChange {
            subdev: 0,
            new_size: 1 << 20,
        },
        Update::Takeover {
            subarray: 0,
            to_raid10: true,
        },
        Update::RwhPolicy {
            new_policy: 1,
            dev_idx: 0,
        },
        Update::PreallocBadblocksMem,
        Update::AddRemoveDisk(heapless::Vec::new()),
        Update::ReshapeContainerDisks {
            old_raid_disks: 2,
            new_raid_disks: 3,
            new_disks: heapless::Vec::from_slice(&[0x810]).expect("one disk"),
        },
        Update::ReshapeMigration(imsm::update::ReshapeMigration {
            old_raid_disks: 2,
            new_raid_disks: 2,
            subdev: 0,
            new_level: 5,
            new_layout: 0,
            new_chunksize: -1,
            new_disk: -1,
        }),
    ];
    if let Some(v) = c.mpb.volumes.first() {
        let mut serials = heapless::Vec::new();
        for o in v.map0.ords.iter() {
            let idx = (o & imsm::layout::ORD_INDEX_MASK) as usize;
            let s = c.mpb.disks.get(idx).map_or([0; 16], |d| d.serial);
            let _ = serials.push(s);
        }
        updates.push(Update::CreateArray {
            dev_idx: c.mpb.volumes.len() as u32,
            volume: v.clone(),
            serials,
        });
    }
    let mut buf = vec![0u8; 64 * 1024];
    updates
        .iter()
        .map(|u| {
            let n = encode(u, &mut buf).expect("encode a seed update");
            buf[..n].to_vec()
        })
        .collect()
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// PHYS and VIRT record updates (section header with the slot in `used`/`populated`, then
/// one entry), every VD's configuration records, and a spare assignment record.
fn ddf_payloads(t: &Tail) -> Vec<Vec<u8>> {
    let anchor = &t.bytes[t.bytes.len() - 512..];
    // The primary copy is the second one of a compact tail (`ddf_compact`).
    let primary_lba = u64::from_be_bytes(anchor[96..104].try_into().expect("8 bytes"));
    let base = (primary_lba - (t.disk_bytes - t.bytes.len() as u64) / 512) as usize * 512;
    let section = |i: usize| {
        let off = base + be32(anchor, 192 + 8 * i) * 512;
        &t.bytes[off..off + be32(anchor, 196 + 8 * i) * 512]
    };
    let mut out = Vec::new();
    let phys = section(1);
    for slot in [0u16, 1, 5] {
        let mut p = phys[..64].to_vec();
        p[8..10].copy_from_slice(&slot.to_be_bytes());
        p.extend_from_slice(&phys[64 + 64 * usize::from(slot)..][..64]);
        out.push(p);
    }
    let virt = section(2);
    let mut v = virt[..64].to_vec();
    v.extend_from_slice(&virt[64..128]);
    out.push(v);
    let config = section(3);
    let record = be16(anchor, 134) * 512;
    let mut groups: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for rec in config.chunks_exact(record) {
        match be32(rec, 0) {
            0xEEEE_EEEE => {
                let guid = rec[8..32].to_vec();
                match groups.iter_mut().find(|(g, _)| *g == guid) {
                    Some((_, p)) => p.extend_from_slice(rec),
                    None => groups.push((guid, rec.to_vec())),
                }
            }
            0x5555_5555 => out.push(rec[..512].to_vec()),
            _ => {}
        }
    }
    out.extend(groups.into_iter().map(|(_, p)| p));
    out
}

fn protocol_seeds() -> Vec<Vec<u8>> {
    use mdmon_core::protocol::*;
    let mut kill = vec![0u8; 64];
    let n = encode_frame(&[2, 0, 0, 0, 1, 0, 0, 0], &mut kill).expect("frame");
    kill.truncate(n);
    let mut all = Vec::new();
    for f in [&ACK[..], &PING_MANAGER[..], &VERSION_REPLY[..], &kill] {
        all.extend_from_slice(f);
    }
    vec![
        ACK.to_vec(),
        PING_MANAGER.to_vec(),
        VERSION_REPLY.to_vec(),
        kill,
        all,
        VERSION.as_bytes().to_vec(),
    ]
}

fn parser_seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "clean\n",
        "active-idle\n",
        "write-pending",
        "read-auto\n",
        "idle\n",
        "recover\n",
        "frozen\n",
        "faulty,blocked\n",
        "in_sync,write_mostly external_bbl\n",
        "none\n",
        "123456\n",
        "1024 / 65536\n",
        "0x400 / 1000\n",
        "017 / 4\n",
        "4.000\n",
        "0.200\n",
        "external:/md127/0\n",
        "external:-md127/1\n",
        "100 8\n2000 16\n",
        "18446744073709551615 2147483647\n5 1\n7 1\n9 1\n11 1\n",
        "12 0\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for format in ["imsm", "ddf"] {
        for dir in moments(format) {
            if let Ok(m) = std::fs::read(dir.join("mdstat.txt")) {
                out.push(m);
            }
        }
    }
    out
}

fn examine_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for disks in imsm_moments() {
        for (serial, t, lss) in disks {
            let extra = ((t.disk_bytes - t.bytes.len() as u64) / u64::from(lss)) as u32;
            let ctrl = u8::from(lss == 4096);
            out.push(examine_bytes(ctrl | 2, 0, extra, &serial, &t.bytes));
            out.push(examine_bytes(ctrl, 1800, extra, &[0; 16], &t.bytes));
        }
    }
    for tails in ddf_moments() {
        for t in tails {
            let extra = ((t.disk_bytes - t.bytes.len() as u64) / 512) as u32;
            out.push(examine_bytes(0, -3600, extra, &[0; 16], &t.bytes));
        }
    }
    out
}
