//! An IMSM container from a golden fixture on sparse files, with sysfs attributes as plain
//! files: the simulated kernel of the monitor tests (`#[path]`-included beside
//! `core/tests/common` as `common`).

// Each test binary uses a different part of it.
#![allow(dead_code)]

use crate::common;
use common::serial16;
use mdmon::runtime::disk::MetadataDisk;
use mdmon::runtime::monitor::MAX_DISKS;
use mdmon::runtime::sysfs_fd::SysfsAttr;
use mdmon::runtime::{ArrayBundle, BadBlockFds, MemberFds};
use mdmon_core::imsm::container::{Compat, Container, MemberCopy};
use mdmon_core::monitor::{ArrayRecord, Member};
use mdmon_core::sysfs::DiskState;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Device number the simulation gives fixture disk `i`.
pub fn dev(i: usize) -> (u32, u32) {
    (8, 16 * i as u32)
}

/// The container the fixture's disks hold when their metadata regions read `regions`
/// (disk `i` has id `i` and device [`dev`]`(i)`).
pub fn load_regions(fixture: &common::Fixture, regions: &[Vec<u8>]) -> Container {
    let copies: Vec<MemberCopy<'_>> = fixture
        .disks
        .iter()
        .zip(regions)
        .enumerate()
        .map(|(i, (d, region))| MemberCopy {
            member: i as u32,
            region,
            disk_bytes: d.size,
            sector_size: d.sector,
            serial: serial16(&d.serial),
            dev: dev(i),
        })
        .collect();
    Container::load(&copies, Compat::Mdadm42).expect("the disks hold loadable IMSM")
}

pub struct Sim {
    pub dir: PathBuf,
    pub fixture: common::Fixture,
}

impl Sim {
    pub fn new(moment: &str, name: &str) -> Sim {
        let mut fixture = common::load("imsm", &common::fixtures_root().join("imsm").join(moment));
        // Disks not in the container at that moment carry no metadata.
        fixture
            .disks
            .retain(|d| d.examine.contains("Intel Raid ISM Cfg Sig."));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("monitor-sim-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("md")).unwrap();
        for d in &fixture.disks {
            let f = std::fs::File::create(dir.join(&d.name)).unwrap();
            f.set_len(d.size).unwrap();
            f.write_all_at(&d.region, d.region_offset).unwrap();
        }
        Sim { dir, fixture }
    }

    /// Fixture disk `i` opened as the monitor writes it (id `i`, device [`dev`]`(i)`).
    pub fn open_disk(&self, i: usize) -> Box<MetadataDisk> {
        let (ma, mi) = dev(i);
        let d = &self.fixture.disks[i];
        Box::new(MetadataDisk::open(&self.dir.join(&d.name), i as u32, ma, mi).unwrap())
    }

    /// Every fixture disk from `first` on, opened (the monitor's disk list).
    pub fn open_disks(&self, first: usize) -> heapless::Vec<Box<MetadataDisk>, MAX_DISKS> {
        let mut disks = heapless::Vec::new();
        for i in first..self.fixture.disks.len() {
            let _ = disks.push(self.open_disk(i));
        }
        disks
    }

    /// The container as a fresh load from the disk files sees it now.
    pub fn load(&self) -> Container {
        let regions: Vec<Vec<u8>> = self
            .fixture
            .disks
            .iter()
            .map(|d| {
                let mut buf = vec![0u8; d.region.len()];
                let f = std::fs::File::open(self.dir.join(&d.name)).unwrap();
                f.read_exact_at(&mut buf, d.region_offset).unwrap();
                buf
            })
            .collect();
        load_regions(&self.fixture, &regions)
    }

    pub fn attr(&self, name: &str, value: &str) -> SysfsAttr {
        let path = self.dir.join("md").join(name);
        std::fs::write(&path, value).unwrap();
        SysfsAttr::open(&path).unwrap()
    }

    /// The kernel changes an attribute.
    pub fn set(&self, name: &str, value: &str) {
        std::fs::write(self.dir.join("md").join(name), value).unwrap();
    }

    /// What the monitor last wrote (writes land at offset 0 over the old value).
    pub fn written(&self, name: &str, len: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("md").join(name)).unwrap();
        text.get(..len).unwrap_or(&text).to_string()
    }

    pub fn disk_index(&self, serial: &str) -> usize {
        self.fixture
            .disks
            .iter()
            .position(|d| d.serial == serial)
            .unwrap()
    }
}

/// The bundle for r1 (volume 0 on the first two disks in serial order), with every
/// attribute file in its starting state.
pub fn r1_bundle(sim: &Sim) -> Box<ArrayBundle> {
    let record = ArrayRecord::new(0, 1, 2, 67584);
    volume_bundle(sim, "", "md126", record, &["MDRS0001", "MDRS0002"])
}

/// The bundle for r5 (volume 1, RAID5 on the first three disks); its attribute files are
/// named `r5-…`, beside r1's.
pub fn r5_bundle(sim: &Sim) -> Box<ArrayBundle> {
    let record = ArrayRecord::new(1, 5, 3, 33792);
    volume_bundle(
        sim,
        "r5-",
        "md125",
        record,
        &["MDRS0001", "MDRS0002", "MDRS0003"],
    )
}

/// A member array of the container: `record` watched through attribute files named
/// `prefix` + the sysfs name, members in slot order by serial, all in sync and clean
/// except `array_state`, which starts `write-pending`.
fn volume_bundle(
    sim: &Sim,
    prefix: &str,
    devnm: &str,
    mut record: ArrayRecord,
    serials: &[&str],
) -> Box<ArrayBundle> {
    let mut members = heapless::Vec::new();
    for (slot, serial) in serials.iter().enumerate() {
        let idx = sim.disk_index(serial);
        let slot = slot as u32;
        let (ma, mi) = dev(idx);
        record
            .members
            .push(Member::new(slot, ma, mi, DiskState::IN_SYNC))
            .unwrap();
        members
            .push(MemberFds {
                kname: sim.fixture.disks[idx].name.as_str().try_into().unwrap(),
                state: sim.attr(&format!("{prefix}dev{slot}-state"), "in_sync\n"),
                recovery_start: sim.attr(&format!("{prefix}dev{slot}-recovery_start"), "none\n"),
                bad_blocks: Some(BadBlockFds {
                    acked: sim.attr(&format!("{prefix}dev{slot}-bad_blocks"), ""),
                    unacked: sim.attr(&format!("{prefix}dev{slot}-unacknowledged_bad_blocks"), ""),
                }),
            })
            .unwrap();
    }
    let attr = |name: &str, value: &str| sim.attr(&format!("{prefix}{name}"), value);
    let inst = record.inst;
    Box::new(ArrayBundle {
        devnm: devnm.try_into().unwrap(),
        record,
        array_state: attr("array_state", "write-pending\n"),
        metadata_version: attr("metadata_version", &format!("external:/md127/{inst}\n")),
        sync_action: Some(attr("sync_action", "idle\n")),
        sync_completed: Some(attr("sync_completed", "none\n")),
        resync_start: Some(attr("resync_start", "none\n")),
        component_size: None,
        reshape_position: Some(attr("reshape_position", "none\n")),
        members,
        event_owed: false,
        decided: Default::default(),
        prev_state_before: mdmon_core::sysfs::ArrayState::Inactive,
    })
}
