//! Loads the golden fixtures that `cargo xtask fixtures` captured from the real-kernel rig
//! (see tests/fixtures/README.md for the layout).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

/// One member disk of a fixture: its metadata region and where it sat on the disk.
#[derive(Debug, Clone)]
pub struct FixtureDisk {
    pub name: String,
    /// Whole disk size in bytes.
    pub size: u64,
    /// Logical sector size in bytes.
    pub sector: u32,
    /// Byte offset of `region` on the disk (region = disk[region_offset..size]).
    pub region_offset: u64,
    /// The metadata bytes: the last `size - region_offset` bytes of the disk.
    pub region: Vec<u8>,
    /// Serial number as qemu presented it (what IMSM stores, unless
    /// IMSM_DEVNAME_AS_SERIAL was in effect).
    pub serial: String,
    /// `mdadm --examine /dev/<name>` output captured right after the region was read.
    pub examine: String,
}

#[derive(Debug, Clone)]
pub struct Fixture {
    pub format: String,
    pub moment: String,
    pub dir: PathBuf,
    pub disks: Vec<FixtureDisk>,
}

pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Every fixture of one format (`"imsm"` or `"ddf"`), sorted by moment name. Empty if the
/// rig has not produced any yet.
pub fn load_all(format: &str) -> Vec<Fixture> {
    let dir = fixtures_root().join(format);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut moments: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("info.txt").is_file())
        .collect();
    moments.sort();
    moments.iter().map(|m| load(format, m)).collect()
}

pub fn load(format: &str, dir: &Path) -> Fixture {
    let info = std::fs::read_to_string(dir.join("info.txt")).expect("info.txt");
    let mut disks = Vec::new();
    for line in info.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("disk") {
            continue;
        }
        let name = words.next().expect("disk name").to_string();
        let mut size = 0;
        let mut sector = 512;
        let mut region_offset = 0;
        let mut serial = String::new();
        for w in words {
            let (k, v) = w.split_once('=').expect("key=value");
            match k {
                "size" => size = v.parse().expect("size"),
                "sector" => sector = v.parse().expect("sector"),
                "region_offset" => region_offset = v.parse().expect("region_offset"),
                "serial" => serial = v.to_string(),
                _ => {}
            }
        }
        let mut region = Vec::new();
        let gz = std::fs::File::open(dir.join(format!("{name}.region.gz"))).expect("region file");
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut region)
            .expect("gunzip region");
        assert_eq!(
            region.len() as u64,
            size - region_offset,
            "{name}: region length"
        );
        let examine =
            std::fs::read_to_string(dir.join(format!("examine-{name}.txt"))).unwrap_or_default();
        disks.push(FixtureDisk {
            name,
            size,
            sector,
            region_offset,
            region,
            serial,
            examine,
        });
    }
    Fixture {
        format: format.to_string(),
        moment: dir.file_name().unwrap().to_string_lossy().into_owned(),
        dir: dir.to_path_buf(),
        disks,
    }
}

/// One captured moment of a format (`tests/fixtures/<format>/<name>`), or `None` when it
/// was not captured.
pub fn moment(format: &str, name: &str) -> Option<Fixture> {
    let dir = fixtures_root().join(format).join(name);
    dir.join("info.txt").is_file().then(|| load(format, &dir))
}

/// A serial as IMSM stores it: the bytes, zero-padded (cut) to 16.
pub fn serial16(s: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (d, b) in out.iter_mut().zip(s.bytes()) {
        *d = b;
    }
    out
}

/// Disk `i` of IMSM fixture `f` with metadata region `region` (the fixture's own, or one a
/// test has written into) as the loader takes it; member id = position in the fixture.
pub fn imsm_copy<'a>(
    f: &Fixture,
    region: &'a [u8],
    i: usize,
) -> mdmon_core::imsm::container::MemberCopy<'a> {
    mdmon_core::imsm::container::MemberCopy {
        member: i as u32,
        region,
        disk_bytes: f.disks[i].size,
        sector_size: f.disks[i].sector,
        serial: serial16(&f.disks[i].serial),
        dev: (8, 16 * i as u32),
    }
}
