//! The IMSM handler's disk writes put exactly the bytes of the container's write plan on
//! every disk, in fewer writes: a one-sector MPB and its cleared migration record go out
//! as one two-sector write per member.

mod imsm_support;

use imsm_support::*;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::{ContainerMetadata, DiskWrite, MAX_DISK_WRITES};
use mdmon_core::imsm::container::{sync_buffer_len, Compat, Container, MemberCopy};
use mdmon_core::imsm::layout::DISK_SPARE;

const SERIALS: [&str; 3] = ["MDRS0001", "MDRS0002", "MDRS0003"];

fn regions() -> Vec<Vec<u8>> {
    let base = two_disk_raid1();
    let mut spare = two_disk_raid1();
    spare.disks = vec![disk("MDRS0003", DISK_SPARE)];
    spare.vols = vec![];
    let mut r: Vec<Vec<u8>> = [&base, &base, &spare]
        .iter()
        .map(|s| region_with(&mpb_bytes(s), DISK_SIZE, 512))
        .collect();
    // Garbage in each migration record (the last sector): clearing it must be visible.
    for region in r.iter_mut() {
        let n = region.len();
        region[n - 512..].fill(0xa5);
    }
    r
}

fn load(regions: &[Vec<u8>]) -> Container {
    let copies: Vec<MemberCopy> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| MemberCopy {
            member: i as u32,
            region: r,
            disk_bytes: DISK_SIZE,
            sector_size: 512,
            serial: serial16(SERIALS[i]),
            dev: (8, 16 * i as u32),
        })
        .collect();
    Container::load(&copies, Compat::Mdadm42).expect("load")
}

fn apply(regions: &mut [Vec<u8>], buf: &[u8], w: &DiskWrite) {
    let region_start = DISK_SIZE - REGION as u64;
    let at = (w.offset - region_start) as usize;
    regions[w.disk as usize][at..at + w.len].copy_from_slice(&buf[w.buf_start..][..w.len]);
}

#[test]
fn handler_writes_the_plan_bytes_with_one_write_per_disk() {
    let start = regions();
    // The plan, applied write by write.
    let mut c = load(&start);
    c.touch();
    let mut buf = vec![0u8; sync_buffer_len(512)];
    let plan = c.sync_metadata(&mut buf).unwrap().expect("pending");
    let mut by_plan = start.clone();
    for w in plan.writes.iter() {
        let dw = DiskWrite {
            disk: w.member,
            offset: w.offset,
            buf_start: w.buf_start,
            len: w.len,
            wave: 0,
        };
        apply(&mut by_plan, &buf, &dw);
    }
    assert_eq!(plan.writes.len(), 5, "two per member, one for the spare");

    // The handler, from a buffer whose spare area is dirty with an earlier sync's bytes.
    let mut meta = ImsmMetadata::new(load(&start));
    meta.container.touch();
    let mut buf = vec![0x5au8; meta.sync_buffer_len()];
    let mut writes: heapless::Vec<DiskWrite, MAX_DISK_WRITES> = heapless::Vec::new();
    assert!(meta.sync(&mut buf, &mut writes).unwrap());
    let mut by_handler = start.clone();
    for w in writes.iter() {
        apply(&mut by_handler, &buf, w);
    }
    assert_eq!(writes.len(), 3, "one write per disk: {writes:?}");
    for w in writes.iter().filter(|w| w.disk < 2) {
        assert_eq!((w.offset, w.len), ((DISK_SECTORS - 2) * 512, 1024));
    }
    for (i, (a, b)) in by_plan.iter().zip(&by_handler).enumerate() {
        assert!(a == b, "disk {i} differs from the plan's result");
    }
    // And the record really was cleared on the members.
    for r in &by_handler[..2] {
        assert!(r[r.len() - 512..].iter().all(|&x| x == 0));
    }
}
