//! Synthetic DDF containers built byte by byte from the tables in docs/ddf.md ("On-disk structures") (independently of
//! the model and writer under test), with a compact layout so tests stay light: the primary
//! copy starts 1240 sectors before the end and the secondary 620 sectors before the end.
#![allow(dead_code)]

use mdmon_core::ddf::crc::seal;
use mdmon_core::ddf::{DiskId, MemberInput};

pub const SECTOR: usize = 512;
pub const COPY_SECTORS: u64 = 618;
pub const PRIMARY_FROM_END: u64 = 1240;
pub const SECONDARY_FROM_END: u64 = 620;
pub const TAIL_SECTORS: u64 = PRIMARY_FROM_END;
pub const MPPE: usize = 256;
pub const CRL: usize = 7;

/// One member disk: its size and the bytes of its tail.
#[derive(Clone, Debug)]
pub struct SynthDisk {
    pub sectors: u64,
    pub tail: Vec<u8>,
}

impl SynthDisk {
    pub fn input(&self, id: u64) -> MemberInput<'_> {
        MemberInput {
            id: DiskId(id),
            disk_bytes: self.sectors * 512,
            sector_size: 512,
            tail: &self.tail,
        }
    }
    /// Byte offset inside `tail` of absolute LBA `lba`.
    pub fn at(&self, lba: u64) -> usize {
        ((lba - (self.sectors - TAIL_SECTORS)) * 512) as usize
    }
    pub fn primary(&self) -> usize {
        self.at(self.sectors - PRIMARY_FROM_END)
    }
    pub fn secondary(&self) -> usize {
        self.at(self.sectors - SECONDARY_FROM_END)
    }
    pub fn anchor(&self) -> usize {
        self.at(self.sectors - 1)
    }
}

/// A VD to put into the container.
#[derive(Clone, Debug)]
pub struct VdSpec {
    pub guid: [u8; 24],
    pub name: &'static str,
    pub prl: u8,
    pub rlq: u8,
    pub chunk_shift: u8,
    /// BVDs: each a list of (disk index, lba). More than one = RAID10 with SRL spanned.
    pub bvds: Vec<Vec<(usize, u64)>>,
    pub blocks: u64,
    pub array_blocks: u64,
    pub state: u8,
    pub init_state: u8,
    pub seq: u32,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub sizes: Vec<u64>,
    pub refnums: Vec<u32>,
    /// PD state per disk (default Online).
    pub pd_state: Vec<u16>,
    /// PD type per disk.
    pub pd_type: Vec<u16>,
    pub vds: Vec<VdSpec>,
    pub seq: u32,
}

pub fn guid(tag: &[u8], stamp: u32, rand: u32) -> [u8; 24] {
    let mut g = [b' '; 24];
    g[..tag.len().min(8)].copy_from_slice(&tag[..tag.len().min(8)]);
    g[8..12].copy_from_slice(&0xDEADBEEFu32.to_be_bytes());
    g[12..16].copy_from_slice(&0u32.to_be_bytes());
    g[16..20].copy_from_slice(&stamp.to_be_bytes());
    g[20..24].copy_from_slice(&rand.to_be_bytes());
    g
}

pub fn pd_guid(i: usize) -> [u8; 24] {
    let mut g = *b"Linux-MD20261125        ";
    g[16..24].copy_from_slice(&(0x1111_0000u64 + i as u64).to_be_bytes());
    g
}

pub const CONTAINER_GUID_STAMP: u32 = 1_480_000_000;

pub fn container_guid() -> [u8; 24] {
    guid(b"Linux-MD", CONTAINER_GUID_STAMP, 0x0102_0304)
}

fn be16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}
fn be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}
fn be64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_be_bytes());
}

/// docs/ddf.md, "Headers", with this builder's compact LBAs.
fn header(disk_sectors: u64, seq: u32, ty: u8, open: u8) -> [u8; 512] {
    let mut h = [0xFFu8; 512];
    be32(&mut h, 0, 0xDE11_DE11);
    h[8..32].copy_from_slice(&container_guid());
    h[32..40].copy_from_slice(b"01.02.00");
    be32(&mut h, 40, seq);
    be32(&mut h, 44, 1_500_000_000);
    h[48] = open;
    h[49] = 0;
    h[50] = 0;
    be64(&mut h, 96, disk_sectors - PRIMARY_FROM_END);
    be64(&mut h, 104, disk_sectors - SECONDARY_FROM_END);
    h[112] = ty;
    be32(&mut h, 116, 32768);
    be64(&mut h, 120, disk_sectors - PRIMARY_FROM_END);
    be16(&mut h, 128, 1023);
    be16(&mut h, 130, 255);
    be16(&mut h, 132, 64);
    be16(&mut h, 134, CRL as u16);
    be16(&mut h, 136, MPPE as u16);
    let sections = [
        (1u32, 1u32),
        (2, 128),
        (130, 32),
        (162, 455),
        (617, 1),
        (u32::MAX, 0),
        (u32::MAX, 0),
        (u32::MAX, 0),
    ];
    for (i, (o, l)) in sections.iter().enumerate() {
        be32(&mut h, 192 + 8 * i, *o);
        be32(&mut h, 196 + 8 * i, *l);
    }
    seal(&mut h);
    h
}

pub fn build(spec: &Spec) -> Vec<SynthDisk> {
    let n = spec.sizes.len();
    // Controller data (docs/ddf.md, "Controller data").
    let mut ctrl = [0xFFu8; 512];
    be32(&mut ctrl, 0, 0xAD11_1111);
    let mut cg = *b"Linux-MD                ";
    cg[20..24].copy_from_slice(b"host");
    ctrl[8..32].copy_from_slice(&cg);
    be16(&mut ctrl, 32, 0xDEAD);
    be16(&mut ctrl, 34, 0xBEEF);
    be16(&mut ctrl, 36, 0);
    be16(&mut ctrl, 38, 0);
    ctrl[40..56].copy_from_slice(b"What Is My PID??");
    ctrl[64..69].copy_from_slice(b"host\0");
    seal(&mut ctrl);

    // Physical disk records (docs/ddf.md, "Physical disk entries").
    let mut phys = vec![0xFFu8; 128 * 512];
    be32(&mut phys, 0, 0x2222_2222);
    be16(&mut phys, 8, n as u16);
    be16(&mut phys, 10, 1023);
    for i in 0..n {
        let e = 64 + 64 * i;
        phys[e..e + 24].copy_from_slice(&pd_guid(i));
        be32(&mut phys, e + 24, spec.refnums[i]);
        be16(&mut phys, e + 28, *spec.pd_type.get(i).unwrap_or(&0x0002));
        be16(&mut phys, e + 30, *spec.pd_state.get(i).unwrap_or(&0x0001));
        be64(
            &mut phys,
            e + 32,
            spec.sizes[i] - 65536.min(spec.sizes[i] / 2),
        );
        phys[e + 40..e + 57].copy_from_slice(b" Information: nil");
        phys[e + 57] = 0;
    }
    seal(&mut phys);

    // Virtual disk records (docs/ddf.md, "Virtual disk entries").
    let mut virt = vec![0xFFu8; 32 * 512];
    be32(&mut virt, 0, 0xDDDD_DDDD);
    be16(&mut virt, 8, spec.vds.len() as u16);
    be16(&mut virt, 10, 255);
    for (i, vd) in spec.vds.iter().enumerate() {
        let e = 64 + 64 * i;
        virt[e..e + 24].copy_from_slice(&vd.guid);
        be16(&mut virt, e + 24, 126 - i as u16);
        virt[e + 28..e + 30].copy_from_slice(&[0x34, 0x12]);
        virt[e + 30..e + 32].copy_from_slice(&[0, 0]);
        virt[e + 32] = vd.state;
        virt[e + 33] = vd.init_state;
        let name = &mut virt[e + 48..e + 64];
        name.fill(0);
        name[..vd.name.len()].copy_from_slice(vd.name.as_bytes());
    }
    seal(&mut virt);

    // VD config records (docs/ddf.md, "Configuration records"): one per BVD.
    let records: Vec<(usize, Vec<u8>, Vec<usize>)> = spec
        .vds
        .iter()
        .enumerate()
        .flat_map(|(vi, vd)| {
            let k = vd.bvds.len();
            vd.bvds.iter().enumerate().map(move |(bi, members)| {
                let mut r = vec![0xFFu8; CRL * 512];
                be32(&mut r, 0, 0xEEEE_EEEE);
                r[8..32].copy_from_slice(&vd.guid);
                be32(&mut r, 32, 1_500_000_100);
                be32(&mut r, 36, vd.seq);
                be16(&mut r, 64, members.len() as u16);
                r[66] = vd.chunk_shift;
                r[67] = vd.prl;
                r[68] = vd.rlq;
                r[69] = k as u8;
                r[70] = if k > 1 { bi as u8 } else { 0 };
                r[71] = if k > 1 { 3 } else { 0xFF };
                be64(&mut r, 72, vd.blocks);
                be64(&mut r, 80, vd.array_blocks);
                r[128..136].fill(0);
                r[136] = 0x80;
                for j in 0..MPPE {
                    be64(&mut r, 512 + 4 * MPPE + 8 * j, 0);
                }
                (vi, r, members.iter().map(|m| m.0).collect::<Vec<_>>())
            })
        })
        .collect();
    let records: Vec<(usize, Vec<u8>, Vec<usize>)> = records
        .into_iter()
        .map(|(vi, mut r, disks)| {
            let vd = &spec.vds[vi];
            let bi = if r[69] > 1 { r[70] as usize } else { 0 };
            for (j, (d, lba)) in vd.bvds[bi].iter().enumerate() {
                be32(&mut r, 512 + 4 * j, spec.refnums[*d]);
                be64(&mut r, 512 + 4 * MPPE + 8 * j, *lba);
            }
            seal(&mut r);
            (vi, r, disks)
        })
        .collect();

    (0..n)
        .map(|i| {
            let s = spec.sizes[i];
            let mut tail = vec![0u8; TAIL_SECTORS as usize * 512];
            let mut config = vec![0xFFu8; 455 * 512];
            let mut slot = 0;
            for (_, r, disks) in &records {
                if disks.contains(&i) {
                    config[slot * CRL * 512..(slot + 1) * CRL * 512].copy_from_slice(r);
                    slot += 1;
                }
            }
            let mut pdd = [0xFFu8; 512];
            be32(&mut pdd, 0, 0x3333_3333);
            pdd[8..32].copy_from_slice(&pd_guid(i));
            be32(&mut pdd, 32, spec.refnums[i]);
            pdd[36] = 1;
            pdd[37] = 1;
            pdd[38..70].fill(b' ');
            pdd[38..43].copy_from_slice(b"Linux");
            seal(&mut pdd);
            let d = SynthDisk {
                sectors: s,
                tail: Vec::new(),
            };
            for (from_end, ty) in [(PRIMARY_FROM_END, 1u8), (SECONDARY_FROM_END, 2u8)] {
                let base = d_at(&d, s - from_end, &tail);
                tail[base..base + 512].copy_from_slice(&header(s, spec.seq, ty, 0));
                let sect = |o: usize| base + o * 512;
                tail[sect(1)..sect(2)].copy_from_slice(&ctrl);
                tail[sect(2)..sect(130)].copy_from_slice(&phys);
                tail[sect(130)..sect(162)].copy_from_slice(&virt);
                tail[sect(162)..sect(617)].copy_from_slice(&config);
                tail[sect(617)..sect(618)].copy_from_slice(&pdd);
            }
            let mut anchor = header(s, spec.seq, 0, 0xFF);
            be32(&mut anchor, 40, 0xFFFF_FFFF);
            seal(&mut anchor);
            let a = d_at(&d, s - 1, &tail);
            tail[a..a + 512].copy_from_slice(&anchor);
            SynthDisk { sectors: s, tail }
        })
        .collect()
}

fn d_at(d: &SynthDisk, lba: u64, _tail: &[u8]) -> usize {
    ((lba - (d.sectors - TAIL_SECTORS)) * 512) as usize
}

/// Reseal the header at byte `off` of a tail after editing it.
pub fn reseal(tail: &mut [u8], off: usize, len: usize) {
    seal(&mut tail[off..off + len]);
}

/// A healthy 3-disk RAID5 (left-symmetric = RLQ 3) plus one global spare, 64 MiB disks.
pub fn raid5_with_spare() -> Spec {
    let s = 131072;
    Spec {
        sizes: vec![s; 4],
        refnums: vec![0x1000_0001, 0x1000_0002, 0x1000_0003, 0x1000_0004],
        pd_state: vec![1, 1, 1, 1],
        pd_type: vec![0x0002, 0x0002, 0x0002, 0x0005],
        vds: vec![VdSpec {
            guid: guid(b"Linux-MD", 1_490_000_000, 0xAABB_CCDD),
            name: "r5",
            prl: 0x05,
            rlq: 3,
            chunk_shift: 7,
            bvds: vec![vec![(0, 0), (1, 0), (2, 0)]],
            blocks: 20480,
            array_blocks: 40960,
            state: 0,
            init_state: 2,
            seq: 4,
        }],
        seq: 7,
    }
}

/// A 4-disk RAID10 as mdadm creates it: two RAID1 BVDs of two disks, SRL spanned.
pub fn raid10() -> Spec {
    let s = 131072;
    Spec {
        sizes: vec![s; 4],
        refnums: vec![0x2000_0001, 0x2000_0002, 0x2000_0003, 0x2000_0004],
        pd_state: vec![1; 4],
        pd_type: vec![0x0002; 4],
        vds: vec![VdSpec {
            guid: guid(b"Linux-MD", 1_490_000_001, 0x0101_0101),
            name: "r10",
            prl: 0x01,
            rlq: 0,
            chunk_shift: 7,
            bvds: vec![vec![(0, 0), (1, 0)], vec![(2, 0), (3, 0)]],
            blocks: 20480,
            array_blocks: 40960,
            state: 0,
            init_state: 2,
            seq: 3,
        }],
        seq: 5,
    }
}

/// A single-BVD VD of `blocks` sectors per member on `members` (disk index, LBA).
fn vd(
    name: &'static str,
    rand: u32,
    prl: u8,
    rlq: u8,
    members: &[(usize, u64)],
    blocks: u64,
    array_blocks: u64,
) -> VdSpec {
    VdSpec {
        guid: guid(b"Linux-MD", 1_490_000_100, rand),
        name,
        prl,
        rlq,
        chunk_shift: 7,
        bvds: vec![members.to_vec()],
        blocks,
        array_blocks,
        state: 0,
        init_state: 2,
        seq: 3,
    }
}

/// A RAID1 VD of `blocks` sectors per member.
fn raid1(name: &'static str, rand: u32, members: &[(usize, u64)], blocks: u64) -> VdSpec {
    vd(name, rand, 0x01, 0, members, blocks, blocks)
}

/// Two RAID1 volumes on the same two members (`r1` at LBA 0, `r2` after it) and two
/// container disks in no volume (global spares), 64 MiB disks.
pub fn two_raid1_with_spares() -> Spec {
    let s = 131072;
    Spec {
        sizes: vec![s; 4],
        refnums: vec![0x3000_0001, 0x3000_0002, 0x3000_0003, 0x3000_0004],
        pd_state: vec![1; 4],
        pd_type: vec![0x0002, 0x0002, 0x0005, 0x0005],
        vds: vec![
            raid1("r1", 0x0101, &[(0, 0), (1, 0)], 20480),
            raid1("r2", 0x0102, &[(0, 20480), (1, 20480)], 20480),
        ],
        seq: 9,
    }
}

/// A RAID1 `r3` of 20480 sectors per member on disk 1 (after `r1` and `r2`) and disk 2 (a
/// spare of [`two_raid1_with_spares`]): the volume a create adds there.
pub fn two_raid1_plus_r3() -> Spec {
    let mut spec = two_raid1_with_spares();
    spec.vds
        .push(raid1("r3", 0x0103, &[(1, 40960), (2, 0)], 20480));
    spec.pd_type[2] = 0x0002;
    spec
}

/// Four volumes on mixed member sets of four disks, as mdadm's `10ddf-create` builds them
/// (several levels sharing disks), plus one global spare, 64 MiB disks: `r5` (RAID5,
/// left-symmetric) on disks 0–2, `r1a` (RAID1) on 0+1, `r1b` (RAID1) on 2+3, `r10` (two
/// spanned RAID1 BVDs) on 0+1 and 2+3. Disk 3 has 10240 free sectors at LBA 0.
pub fn four_volumes_with_spare() -> Spec {
    let s = 131072;
    let mut r10 = vd("r10", 0x0204, 0x01, 0, &[], 10240, 20480);
    r10.bvds = vec![vec![(0, 20480), (1, 20480)], vec![(2, 20480), (3, 20480)]];
    Spec {
        sizes: vec![s; 5],
        refnums: vec![
            0x4000_0001,
            0x4000_0002,
            0x4000_0003,
            0x4000_0004,
            0x4000_0005,
        ],
        pd_state: vec![1; 5],
        pd_type: vec![0x0002, 0x0002, 0x0002, 0x0002, 0x0005],
        vds: vec![
            vd(
                "r5",
                0x0201,
                0x05,
                3,
                &[(0, 0), (1, 0), (2, 0)],
                10240,
                20480,
            ),
            raid1("r1a", 0x0202, &[(0, 10240), (1, 10240)], 10240),
            raid1("r1b", 0x0203, &[(2, 10240), (3, 10240)], 10240),
            r10,
        ],
        seq: 11,
    }
}

/// [`four_volumes_with_spare`] with a fifth volume `r1c` (RAID1) on disk 3's free space and
/// the spare: the volume a create adds there.
pub fn four_volumes_plus_r1c() -> Spec {
    let mut spec = four_volumes_with_spare();
    spec.vds
        .push(raid1("r1c", 0x0205, &[(3, 0), (4, 0)], 10240));
    spec.pd_type[4] = 0x0002;
    spec
}

/// Load a container from `(disk id, disk)` pairs, in that order, into `c`.
pub fn load_into(
    c: &mut mdmon_core::ddf::Container,
    disks: &[(u64, &SynthDisk)],
) -> Result<(), mdmon_core::ddf::LoadError> {
    let inputs: Vec<MemberInput<'_>> = disks.iter().map(|(id, d)| d.input(*id)).collect();
    c.load(&inputs)
}

/// The VIRT update mdadm sends to add (or, with `state` = 0x02, delete) the VD entry
/// `entry`: a Virtual Disk Records header followed by the one entry.
pub fn virt_update(entry: &mdmon_core::ddf::layout::VdEntry, state: u8) -> Vec<u8> {
    use zerocopy::IntoBytes;
    let mut e = *entry;
    e.state = state;
    let mut u = vec![0xFFu8; 128];
    u[..4].copy_from_slice(&0xDDDD_DDDDu32.to_be_bytes());
    u[64..].copy_from_slice(e.as_bytes());
    u
}
