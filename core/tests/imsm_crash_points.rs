//! A power cut at any point of an IMSM metadata sync whose MPB spans two sectors (two
//! volumes, as mdadm 4.2 wrote it in the rig), on real members: every volume keeps all its
//! members whole (old or new copy) but at most one, and the members load as the metadata
//! before the sync or the one after it.
//!
//! IMSM keeps one copy per disk, and a copy of several sectors is torn (its checksum fails)
//! from its first write until its last. The handler therefore writes such copies one disk
//! after another when they hold members of one volume (`DiskWrite::wave`, docs/imsm.md
//! "Torn writes"). With every disk written at once, a cut would tear all of them together
//! and nothing would load.

mod common;

use common::Fixture;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::handler::{ContainerMetadata, DiskWrite, MAX_DISK_WRITES};
use mdmon_core::imsm::container::{Compat, Container, MemberCopy};
use mdmon_core::imsm::layout::VOL_DIRTY;

const SECTOR: usize = 512;

fn members(f: &Fixture) -> Vec<usize> {
    f.disks
        .iter()
        .enumerate()
        .filter(|(_, d)| d.examine.contains("Intel Raid ISM"))
        .map(|(i, _)| i)
        .collect()
}

fn load(f: &Fixture, regions: &[Vec<u8>], only: &[usize]) -> Option<Container> {
    let copies: Vec<MemberCopy> = only
        .iter()
        .map(|&i| common::imsm_copy(f, &regions[i], i))
        .collect();
    Container::load(&copies, Compat::Mdadm42).ok()
}

fn write_sector(f: &Fixture, regions: &mut [Vec<u8>], buf: &[u8], w: &DiskWrite, s: usize) {
    let d = w.disk as usize;
    let at = (w.offset - f.disks[d].region_offset) as usize + s * SECTOR;
    let from = w.buf_start + s * SECTOR;
    regions[d][at..at + SECTOR].copy_from_slice(&buf[from..from + SECTOR]);
}

/// Marks volume `v` dirty, then cuts the sync at every sector of every write; returns the
/// number of cut points checked and the number of waves.
fn check_every_cut(f: &Fixture, v: usize) -> (usize, u8) {
    let all = members(f);
    let start: Vec<Vec<u8>> = f.disks.iter().map(|d| d.region.clone()).collect();
    let mut meta = ImsmMetadata::new(load(f, &start, &all).expect("fixture loads"));
    let before = meta.container.mpb.header.generation_num.get();
    assert!(
        meta.container.mpb.header.mpb_size.get() as usize > SECTOR,
        "the fixture's MPB spans several sectors"
    );
    assert_eq!(meta.container.mpb.volumes[v].dev.dirty & VOL_DIRTY, 0);
    meta.container.mpb.volumes[v].dev.dirty = VOL_DIRTY;
    meta.container.touch();
    let mut buf = vec![0u8; meta.sync_buffer_len()];
    let mut writes: heapless::Vec<DiskWrite, MAX_DISK_WRITES> = heapless::Vec::new();
    assert!(meta.sync(&mut buf, &mut writes).unwrap());

    // Fixture disk indexes holding a member of each volume.
    let volumes: Vec<Vec<usize>> = meta
        .container
        .mpb
        .volumes
        .iter()
        .map(|vol| {
            (0..vol.map0.num_members())
                .filter_map(|slot| vol.map0.index_at(slot))
                .filter_map(|idx| meta.container.disk_by_index(idx))
                .map(|d| d.member as usize)
                .collect()
        })
        .collect();
    assert!(volumes.iter().all(|m| m.len() >= 2));
    let mut regions = start.clone();
    let mut points = 0;
    let mut check = |regions: &[Vec<u8>], at: &str| {
        // mdadm takes into the container only disks whose own copy loads.
        let (whole, torn): (Vec<usize>, Vec<usize>) =
            all.iter().partition(|&&i| load(f, regions, &[i]).is_some());
        for (v, members) in volumes.iter().enumerate() {
            let n = members.iter().filter(|m| torn.contains(m)).count();
            assert!(
                n <= 1,
                "cut {at}: volume {v} has {n} torn members ({torn:?})"
            );
        }
        let c = load(f, regions, &whole).unwrap_or_else(|| panic!("cut {at}: nothing loads"));
        let g = c.mpb.header.generation_num.get();
        assert!(g == before || g == before + 1, "cut {at}: generation {g}");
        let dirty = c.mpb.volumes[v].dev.dirty & VOL_DIRTY != 0;
        assert_eq!(dirty, g != before, "cut {at}: a mix of old and new");
        points += 1;
    };
    check(&regions, "before the first write");
    let waves = writes.iter().map(|w| w.wave).max().unwrap_or(0);
    for wave in 0..=waves {
        // All disks of the wave in step: write j of each disk's chain, sector s of it.
        let chains: Vec<Vec<&DiskWrite>> = {
            let mut disks: Vec<u32> = Vec::new();
            for w in writes.iter().filter(|w| w.wave == wave) {
                if !disks.contains(&w.disk) {
                    disks.push(w.disk);
                }
            }
            disks
                .iter()
                .map(|d| {
                    writes
                        .iter()
                        .filter(|w| w.wave == wave && w.disk == *d)
                        .collect()
                })
                .collect()
        };
        let longest = chains.iter().map(|c| c.len()).max().unwrap_or(0);
        for j in 0..longest {
            let sectors = chains
                .iter()
                .filter_map(|c| c.get(j))
                .map(|w| w.len / SECTOR)
                .max()
                .unwrap_or(0);
            for s in 0..sectors {
                for c in &chains {
                    if let Some(w) = c.get(j).filter(|w| s < w.len / SECTOR) {
                        write_sector(f, &mut regions, &buf, w, s);
                    }
                }
                check(&regions, &format!("wave {wave} write {j} sector {s}"));
            }
        }
    }
    let end = load(f, &regions, &all).unwrap();
    assert_eq!(end.mpb.header.generation_num.get(), before + 1);
    (points, waves + 1)
}

#[test]
fn a_cut_anywhere_in_a_two_sector_sync_tears_at_most_one_member_of_each_volume() {
    let Some(f) = common::moment("imsm", "02-volumes-resynced") else {
        return;
    };
    // Volume 1's record lies in the MPB's second sector.
    let (points, waves) = check_every_cut(&f, 1);
    assert!(points > 4, "{points} cut points");
    // r1 on sda+sdb and r5 on sda+sdb+sdc: three waves; the spare sdd, in no volume, goes
    // with the first.
    assert_eq!(waves, 3);
    check_every_cut(&f, 0);
}
