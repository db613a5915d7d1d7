//! The IMSM handler's disk writes put exactly the bytes of the container's write plan on
//! every disk, in fewer writes: a one-sector MPB and its cleared migration record go out
//! as one two-sector write per member.

mod imsm_support;

use imsm_support::*;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::{ContainerMetadata, DiskWrite, MAX_DISK_WRITES};
use mdmon_core::imsm::container::{Compat, Container, MemberCopy};
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

/// Every disk gets one write: a member's copy as it lies on the disk (extended sectors, the
/// anchor, the cleared migration record), a spare its own sector. What lands is what a
/// fresh load reads back, and the record is cleared.
fn check_one_write_per_disk(base: &MpbSpec) {
    let mut start = regions();
    for r in start.iter_mut().take(2) {
        let n = r.len();
        let fresh = region_with(&mpb_bytes(base), DISK_SIZE, 512);
        r.copy_from_slice(&fresh);
        r[n - 512..].fill(0xa5);
    }
    let mut meta = ImsmMetadata::new(load(&start));
    meta.container.touch();
    // A buffer dirty with an earlier sync's bytes.
    let mut buf = vec![0x5au8; meta.sync_buffer_len()];
    let mut writes: heapless::Vec<DiskWrite, MAX_DISK_WRITES> = heapless::Vec::new();
    assert!(meta.sync(&mut buf, &mut writes).unwrap());
    assert_eq!(writes.len(), 3, "one write per disk: {writes:?}");
    let mpb_len = meta.container.mpb.header.mpb_size.get() as u64;
    let sectors = mpb_len.div_ceil(512);
    for w in writes.iter().filter(|w| w.disk < 2) {
        // From the first extended sector (LBA N-1-sectors) to the end of the disk.
        assert_eq!(
            (w.offset, w.len as u64),
            ((DISK_SECTORS - 1 - sectors) * 512, (sectors + 1) * 512),
            "{sectors} MPB sector(s)"
        );
    }
    let mut after = start.clone();
    for w in writes.iter() {
        apply(&mut after, &buf, w);
    }
    let reloaded = load(&after);
    assert_eq!(
        reloaded.mpb.header.generation_num.get(),
        meta.container.mpb.header.generation_num.get()
    );
    assert_eq!(reloaded.mpb.volumes.len(), base.vols.len());
    for r in &after[..2] {
        assert!(r[r.len() - 512..].iter().all(|&x| x == 0), "record cleared");
    }
    // A multi-sector copy can tear inside its write: members go out in waves.
    let waves: std::collections::BTreeSet<u8> = writes.iter().map(|w| w.wave).collect();
    assert_eq!(waves.len(), if sectors > 1 { 2 } else { 1 }, "{writes:?}");
}

#[test]
fn a_one_sector_copy_is_one_write_per_disk_all_at_once() {
    check_one_write_per_disk(&two_disk_raid1());
}

#[test]
fn a_two_sector_copy_is_one_write_per_disk_one_member_at_a_time() {
    let mut two = two_disk_raid1();
    two.vols.push(raid1_vol("vol1", 0));
    two.vols[1].map0.pba = 1 << 16;
    check_one_write_per_disk(&two);
}

/// On 4096-byte-sector disks a copy with a rebuild migration still fits one sector, so the
/// sync that activates a spare is not split into waves for tearing. The spare must still
/// be written before the member that lists it: activation changes the family number, and
/// a cut after the listing member's new copy but before the spare's leaves three families
/// (the survivor's new one, the failed member's old one, the spare record's), and the
/// family vote keeps the spare record and no volume (docs/imsm.md, "Torn writes"). Found by
/// `cargo xtask crash --workload imsm2-4k` ("subarray 0 is described by no copy that
/// loads"). Every crash point of the sync is tried: the earlier waves whole, any subset of
/// the current one.
#[test]
fn a_spare_joining_is_written_first_also_when_the_copy_is_one_sector() {
    use mdmon_core::imsm::ops::{ds, ArrayInput, MemberInput, SyncAction, MAX_SECTOR};
    const LSS: usize = 4096;
    let base = MpbSpec {
        div: 8,
        ..two_disk_raid1()
    };
    let mut spare = base.clone();
    spare.disks = vec![disk("MDRS0003", DISK_SPARE)];
    spare.vols = vec![];
    let mut regions: Vec<Vec<u8>> = [&base, &base, &spare]
        .iter()
        .map(|s| region_with(&mpb_bytes(s), DISK_SIZE, LSS))
        .collect();
    fn copy(regions: &[Vec<u8>], i: usize) -> MemberCopy<'_> {
        MemberCopy {
            member: i as u32,
            region: &regions[i],
            disk_bytes: DISK_SIZE,
            sector_size: LSS as u32,
            serial: serial16(SERIALS[i]),
            dev: (8, 16 * i as u32),
        }
    }
    // What mdadm assembles: the disks whose own copy loads, then the container.
    let volumes_loaded = |regions: &[Vec<u8>]| -> Option<usize> {
        let whole: Vec<MemberCopy> = (0..regions.len())
            .map(|i| copy(regions, i))
            .filter(|c| Container::load(&[*c], Compat::Mdadm42).is_ok())
            .collect();
        Container::load(&whole, Compat::Mdadm42)
            .ok()
            .map(|c| c.mpb.volumes.len())
    };
    let copies: Vec<MemberCopy> = (0..3).map(|i| copy(&regions, i)).collect();
    let mut meta = ImsmMetadata::new(Container::load(&copies, Compat::Mdadm42).expect("load"));
    let members = |faulty: &[usize], gone: &[usize]| -> Vec<MemberInput> {
        (0..2)
            .map(|slot| MemberInput {
                slot: slot as u32,
                state: if faulty.contains(&slot) {
                    ds::FAULTY
                } else {
                    ds::INSYNC
                },
                recovery_start: MAX_SECTOR,
                active: !gone.contains(&slot),
                dev: (8, 16 * slot as u32),
            })
            .collect()
    };
    fn array<'a>(c: &Container, m: &'a [MemberInput]) -> ArrayInput<'a> {
        ArrayInput {
            volume: 0,
            md_level: 1,
            raid_disks: 2,
            layout: 0,
            component_size: c.mpb.volumes[0].map0.per_dev_array_size(),
            resync_start: MAX_SECTOR,
            curr_action: SyncAction::Idle,
            prev_action: SyncAction::Idle,
            last_checkpoint: 0,
            members: m,
        }
    }
    let mut buf = vec![0u8; meta.sync_buffer_len()];
    let mut writes: heapless::Vec<DiskWrite, MAX_DISK_WRITES> = heapless::Vec::new();
    // Member 1 fails; the failure is recorded (the failed disk is not written).
    let m = members(&[1], &[]);
    let a = array(&meta.container, &m);
    meta.container.set_disk(&a, 1, ds::FAULTY).unwrap();
    assert!(meta.sync(&mut buf, &mut writes).unwrap());
    for w in writes.iter() {
        apply(&mut regions, &buf, w);
    }
    assert_eq!(volumes_loaded(&regions), Some(1));
    // The spare is activated in its place.
    let m = members(&[], &[1]);
    let a = array(&meta.container, &m);
    let act = meta
        .container
        .activate_spare(&a, 0x1234)
        .expect("the spare");
    assert_eq!(act.disks[0].member, 2);
    meta.container.process_update(act.update, &[0]).unwrap();
    assert!(meta.sync(&mut buf, &mut writes).unwrap());
    assert_eq!(
        meta.container.mpb.sectors(LSS as u32),
        1,
        "the copy with its migration fits one 4K sector"
    );
    let last = writes.iter().map(|w| w.wave).max().unwrap();
    for wave in 0..=last {
        let now: Vec<&DiskWrite> = writes.iter().filter(|w| w.wave == wave).collect();
        for subset in 0..(1u32 << now.len()) {
            let mut r = regions.clone();
            for (k, w) in now.iter().enumerate() {
                if subset & (1 << k) != 0 {
                    apply(&mut r, &buf, w);
                }
            }
            assert_eq!(
                volumes_loaded(&r),
                Some(1),
                "wave {wave}, writes {subset:b} of {now:?} landed"
            );
        }
        for w in now {
            apply(&mut regions, &buf, w);
        }
    }
    assert!(Container::load(&[copy(&regions, 2)], Compat::Mdadm42).is_ok());
}
