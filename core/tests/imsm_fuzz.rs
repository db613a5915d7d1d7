//! Property tests: the IMSM parser, container loader and examine renderer are total. Mutated
//! metadata (synthetic, and every golden fixture once the rig has produced them) yields a
//! model or a typed error, never a panic. Checksums are re-sealed after mutation so the
//! mutations reach the structural checks behind the checksum.

mod common;
mod imsm_support;

use imsm_support::*;
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container, MemberCopy};
use mdmon_core::imsm::examine::Examined;
use mdmon_core::imsm::model::{gather_mpb, Mpb, MPB_BUF_LEN};
use proptest::prelude::*;

/// Seed images, built once: synthetic ones plus the MPB of every fixture disk.
fn seeds() -> &'static [(Vec<u8>, u32)] {
    static SEEDS: std::sync::OnceLock<Vec<(Vec<u8>, u32)>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(build_seeds)
}

fn build_seeds() -> Vec<(Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut s = two_disk_raid1();
    out.push((mpb_bytes(&s), 512));
    s.bbm = vec![(1, 100, 3), (0, 5000, 255)];
    s.vols[0].migr_state = 1;
    s.vols[0].migr_type = 1;
    s.vols[0].map1 = Some(s.vols[0].map0.clone());
    out.push((mpb_bytes(&s), 512));
    s.div = 8;
    s.bbm = vec![(0, 10, 0)];
    out.push((mpb_bytes(&s), 4096));
    for f in common::load_all("imsm") {
        for d in f.disks {
            let mut buf = vec![0u8; MPB_BUF_LEN];
            if let Ok(n) = gather_mpb(&d.region, d.size, d.sector, &mut buf) {
                buf.truncate(n);
                out.push((buf, d.sector));
            }
        }
    }
    out
}

fn exercise(bytes: &[u8], lss: u32) {
    if let Ok(m) = Mpb::parse(bytes, lss) {
        // Our own encoding of a parsed model parses back and is a fixed point of
        // parse+encode (the first encode may normalise derived counters and the checksum).
        let mut out = vec![0u8; MPB_BUF_LEN];
        if let Ok(n) = m.encode(lss, &mut out) {
            let again = Mpb::parse(&out[..n], lss).expect("own encoding parses");
            let mut out2 = vec![0u8; MPB_BUF_LEN];
            let n2 = again.encode(lss, &mut out2).expect("re-encode");
            assert_eq!(&out[..n], &out2[..n2]);
        }
        let region = region_with(bytes, DISK_SIZE, lss as usize);
        let copies = [MemberCopy {
            member: 0,
            region: &region,
            disk_bytes: DISK_SIZE,
            sector_size: lss,
            serial: m.disks.first().map_or([0; 16], |d| d.serial),
            dev: (8, 0),
        }];
        if let Ok(mut c) = Container::load(&copies, Compat::Mdadm46) {
            c.touch();
            let mut buf = vec![0u8; sync_buffer_len(lss as usize)];
            let _ = c.sync_metadata(&mut buf);
        }
        if let Ok(e) = Examined::from_region(&region, DISK_SIZE, lss, None) {
            let mut s = String::new();
            e.write_text(&mut s).unwrap();
            e.write_json(&mut s).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_metadata_never_panics(
        seed in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        reseal in any::<bool>(),
    ) {
        let seeds = seeds();
        let (orig, lss) = &seeds[seed.index(seeds.len())];
        let mut bytes = orig.clone();
        for (at, v) in &flips {
            let i = at.index(bytes.len());
            bytes[i] = *v;
        }
        if reseal {
            let size = u32::from_le_bytes(bytes[36..40].try_into().unwrap()) as usize;
            if size <= bytes.len() && size >= 40 {
                fix_checksum(&mut bytes);
            }
        }
        exercise(&bytes, *lss);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        sig in any::<bool>(),
        disk_bytes in prop_oneof![any::<u64>(), 0u64..10_000],
        lss in prop_oneof![Just(512u32), Just(4096u32), any::<u32>()],
    ) {
        let mut bytes = bytes;
        if sig && bytes.len() >= 40 {
            bytes[..24].copy_from_slice(b"Intel Raid ISM Cfg Sig. ");
            let len = (bytes.len() / 4 * 4) as u32;
            bytes[36..40].copy_from_slice(&len.to_le_bytes());
            fix_checksum(&mut bytes);
        }
        exercise(&bytes, 512);
        let _ = gather_mpb(&bytes, bytes.len() as u64, 512, &mut vec![0u8; MPB_BUF_LEN]);
        // Arbitrary geometry: a region that does not end where the disk does, odd sizes.
        let _ = gather_mpb(&bytes, disk_bytes, lss, &mut vec![0u8; MPB_BUF_LEN]);
        let _ = Examined::from_region(&bytes, disk_bytes, lss, None);
    }
}
