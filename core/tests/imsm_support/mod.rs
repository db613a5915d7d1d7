//! Builds IMSM metadata byte by byte, with offsets of its own, from the structures
//! docs/imsm.md describes ("On-disk structures"), independently of the crate's own layouts
//! and encoder, so the parser is checked against the format rather than itself.
#![allow(dead_code)]

pub const REGION: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct DiskSpec {
    pub serial: String,
    pub blocks: u64,
    pub scsi_id: u32,
    pub status: u32,
}

#[derive(Clone, Debug)]
pub struct MapSpec {
    pub pba: u64,
    pub blocks_per_member: u64,
    pub stripes: u64,
    pub strip: u16,
    pub state: u8,
    pub level: u8,
    pub domains: u8,
    pub failed: u8,
    pub ords: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct VolSpec {
    pub name: String,
    pub size: u64,
    pub status: u32,
    pub migr_state: u8,
    pub migr_type: u8,
    pub dirty: u8,
    pub curr_unit: u64,
    pub rwh: u8,
    pub vol_id: u16,
    pub map0: MapSpec,
    pub map1: Option<MapSpec>,
}

#[derive(Clone, Debug)]
pub struct MpbSpec {
    pub version: String,
    pub family: u32,
    pub orig_family: u32,
    pub generation: u32,
    pub attributes: u32,
    pub disks: Vec<DiskSpec>,
    pub vols: Vec<VolSpec>,
    /// (disk ordinal, start, marked_count = length-1), already in on-disk units.
    pub bbm: Vec<(u8, u64, u8)>,
    /// Values are divided by this on the way out (8 for 4K disks).
    pub div: u64,
}

pub const DISK_SIZE: u64 = 64 << 20; // 64 MiB members
pub const DISK_SECTORS: u64 = DISK_SIZE / 512;

pub fn disk(serial: &str, status: u32) -> DiskSpec {
    DiskSpec {
        serial: serial.into(),
        blocks: DISK_SECTORS,
        scsi_id: 0,
        status,
    }
}

/// A 2-disk RAID1 of 32 MiB (mdadm-like geometry: bpm = per-member data + 2048).
pub fn raid1_map(state: u8, ords: Vec<u32>) -> MapSpec {
    MapSpec {
        pba: 0,
        blocks_per_member: 65536 + 2048,
        // size / data members / domains / chunk (docs/imsm.md, "RAID level and stripe count")
        stripes: 65536 / 2 / 128,
        strip: 128,
        state,
        level: 1,
        domains: 2,
        failed: 0xff,
        ords,
    }
}

pub fn raid1_vol(name: &str, state: u8) -> VolSpec {
    VolSpec {
        name: name.into(),
        size: 65536,
        status: 0xc,
        migr_state: 0,
        migr_type: 0,
        dirty: 0,
        curr_unit: 0,
        rwh: 5,
        vol_id: 1,
        map0: raid1_map(state, vec![0, 1]),
        map1: None,
    }
}

pub fn two_disk_raid1() -> MpbSpec {
    MpbSpec {
        version: "1.1.00".into(),
        family: 0x1234_5678,
        orig_family: 0x1234_5678,
        generation: 7,
        attributes: 0x8000_0000,
        disks: vec![disk("MDRS0001", 2), disk("MDRS0002", 2)],
        vols: vec![raid1_vol("vol0", 0)],
        bbm: vec![],
        div: 1,
    }
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_name(b: &mut Vec<u8>, s: &str) {
    let mut f = [0u8; 16];
    f[..s.len()].copy_from_slice(s.as_bytes());
    b.extend_from_slice(&f);
}

fn map_bytes(b: &mut Vec<u8>, m: &MapSpec, div: u64) {
    let pba = m.pba / div;
    let bpm = m.blocks_per_member / div;
    put32(b, pba as u32);
    put32(b, bpm as u32);
    put32(b, m.stripes as u32);
    b.extend_from_slice(&((m.strip as u64 / div) as u16).to_le_bytes());
    b.extend_from_slice(&[m.state, m.level, m.ords.len() as u8, m.domains, m.failed, 1]);
    put32(b, (pba >> 32) as u32);
    put32(b, (bpm >> 32) as u32);
    put32(b, (m.stripes >> 32) as u32);
    b.extend_from_slice(&[0u8; 16]);
    for o in &m.ords {
        put32(b, *o);
    }
}

/// The MPB in memory order with mpb_size and check_sum filled in.
pub fn mpb_bytes(s: &MpbSpec) -> Vec<u8> {
    let mut b = Vec::new();
    let mut sig = [0u8; 32];
    let text = format!("Intel Raid ISM Cfg Sig. {}", s.version);
    sig[..text.len()].copy_from_slice(text.as_bytes());
    b.extend_from_slice(&sig);
    put32(&mut b, 0); // check_sum
    put32(&mut b, 0); // mpb_size
    put32(&mut b, s.family);
    put32(&mut b, s.generation);
    put32(&mut b, 0); // error_log_size
    let bbm_attr = if s.bbm.is_empty() { 0 } else { 0x0800_0000 };
    put32(&mut b, s.attributes | bbm_attr);
    b.extend_from_slice(&[s.disks.len() as u8, s.vols.len() as u8, 0, 0]);
    put32(&mut b, 0); // cache_size
    put32(&mut b, s.orig_family);
    put32(&mut b, 1); // pwr_cycle_count
    let bbm_size = if s.bbm.is_empty() {
        0
    } else {
        8 + 8 * s.bbm.len()
    };
    put32(&mut b, bbm_size as u32);
    b.extend_from_slice(&[1, 0, 0, 0]); // num_raid_devs_created, filler1
    b.extend_from_slice(&1_700_000_000u64.to_le_bytes());
    b.extend_from_slice(&[0u8; 128]);
    assert_eq!(b.len(), 216);
    for d in &s.disks {
        put_name(&mut b, &d.serial);
        let blocks = d.blocks / s.div;
        put32(&mut b, blocks as u32);
        put32(&mut b, d.scsi_id);
        put32(&mut b, d.status);
        put32(&mut b, 0);
        put32(&mut b, (blocks >> 32) as u32);
        b.extend_from_slice(&[0u8; 12]);
    }
    for v in &s.vols {
        let start = b.len();
        put_name(&mut b, &v.name);
        let size = v.size / s.div;
        put32(&mut b, size as u32);
        put32(&mut b, (size >> 32) as u32);
        put32(&mut b, v.status);
        put32(&mut b, 0); // reserved_blocks
        b.extend_from_slice(&[0u8; 8]); // migr_priority .. cng_sub_state
        b.extend_from_slice(&v.vol_id.to_le_bytes());
        b.extend_from_slice(&[0u8; 6]); // nv cache mode/flags, nvc family
        b.extend_from_slice(&[0u8; 2]); // nvc_vol_raid_dev_num
        b.push(v.rwh);
        b.extend_from_slice(&[0u8; 16 + 1 + 12]);
        assert_eq!(b.len() - start, 80);
        let unit = v.curr_unit / s.div;
        put32(&mut b, unit as u32);
        put32(&mut b, 0);
        b.extend_from_slice(&[v.migr_state, v.migr_type, v.dirty, 0, 0, 0, 0, 0]);
        put32(&mut b, (unit >> 32) as u32);
        b.extend_from_slice(&[0u8; 12]);
        assert_eq!(b.len() - start, 112);
        map_bytes(&mut b, &v.map0, s.div);
        if let Some(m) = &v.map1 {
            map_bytes(&mut b, m, s.div);
        }
    }
    if !s.bbm.is_empty() {
        put32(&mut b, 0xABAD_B10C);
        put32(&mut b, s.bbm.len() as u32);
        for (ord, start, count) in &s.bbm {
            b.push(*count);
            b.push(*ord);
            b.extend_from_slice(&(*start as u16).to_le_bytes());
            put32(&mut b, (*start >> 16) as u32);
        }
    }
    let size = b.len() as u32;
    b[36..40].copy_from_slice(&size.to_le_bytes());
    fix_checksum(&mut b);
    b
}

pub fn fix_checksum(b: &mut [u8]) {
    let size = u32::from_le_bytes(b[36..40].try_into().unwrap()) as usize;
    let mut sum = 0u32;
    for w in b[..size].chunks_exact(4) {
        sum = sum.wrapping_add(u32::from_le_bytes(w.try_into().unwrap()));
    }
    let stored = u32::from_le_bytes(b[32..36].try_into().unwrap());
    let sum = sum.wrapping_sub(stored);
    b[32..36].copy_from_slice(&sum.to_le_bytes());
}

/// The last `REGION` bytes of a disk of `disk_bytes` whose MPB is `mpb` (memory order).
pub fn region_with(mpb: &[u8], disk_bytes: u64, lss: usize) -> Vec<u8> {
    let mut region = vec![0u8; REGION];
    let sectors = mpb.len().div_ceil(lss);
    let region_start = disk_bytes - REGION as u64;
    let n = disk_bytes / lss as u64;
    let anchor = ((n - 2) * lss as u64 - region_start) as usize;
    let mut padded = mpb.to_vec();
    padded.resize(sectors * lss, 0);
    region[anchor..anchor + lss].copy_from_slice(&padded[..lss]);
    if sectors > 1 {
        let ext = ((n - 2 - (sectors as u64 - 1)) * lss as u64 - region_start) as usize;
        region[ext..ext + (sectors - 1) * lss].copy_from_slice(&padded[lss..]);
    }
    region
}

pub fn serial16(s: &str) -> [u8; 16] {
    let mut f = [0u8; 16];
    f[..s.len()].copy_from_slice(s.as_bytes());
    f
}

/// Loads a container from one spec per member disk, each with its serial, through the
/// crate's loader (regions built by [`region_with`] on [`DISK_SIZE`] disks, 512-byte sectors,
/// member `i` as device 8:16i).
pub fn load_specs(
    specs: &[(&MpbSpec, &str)],
    compat: mdmon_core::imsm::container::Compat,
) -> mdmon_core::imsm::container::Container {
    use mdmon_core::imsm::container::{Container, MemberCopy};
    let regions: Vec<Vec<u8>> = specs
        .iter()
        .map(|(s, _)| region_with(&mpb_bytes(s), DISK_SIZE, 512))
        .collect();
    let copies: Vec<MemberCopy> = specs
        .iter()
        .zip(&regions)
        .enumerate()
        .map(|(i, ((_, serial), r))| MemberCopy {
            member: i as u32,
            region: r,
            disk_bytes: DISK_SIZE,
            sector_size: 512,
            serial: serial16(serial),
            dev: (8, 16 * i as u32),
        })
        .collect();
    Container::load(&copies, compat).expect("load")
}

/// [`two_disk_raid1`] on MDRS0001 and MDRS0002, loaded.
pub fn two_disk_raid1_container(
    compat: mdmon_core::imsm::container::Compat,
) -> mdmon_core::imsm::container::Container {
    load_spec(&two_disk_raid1(), &["MDRS0001", "MDRS0002"], compat)
}

/// [`load_specs`] with the same spec on every member, one per serial.
pub fn load_spec(
    spec: &MpbSpec,
    serials: &[&str],
    compat: mdmon_core::imsm::container::Compat,
) -> mdmon_core::imsm::container::Container {
    let specs: Vec<(&MpbSpec, &str)> = serials.iter().map(|s| (spec, *s)).collect();
    load_specs(&specs, compat)
}
