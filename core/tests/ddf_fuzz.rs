//! Property tests: mutated metadata and hostile update payloads give errors, never panics,
//! and whatever loads can be written, examined and operated on.

mod ddf_support;

use ddf_support::*;
use mdmon_core::ddf::ops::{ArrayInfo, ArrayMember, Consistency, DeviceState, ResyncProgress};
use mdmon_core::ddf::*;
use proptest::prelude::*;

/// Byte ranges (relative to a copy's header LBA, in bytes) worth mutating: header, PD and VD
/// record headers and first entries, the first config records, PD data.
const HOT: [(usize, usize); 6] = [
    (0, 512),
    (2 * 512, 2 * 512 + 512),
    (130 * 512, 130 * 512 + 512),
    (162 * 512, 162 * 512 + 3 * 3584),
    (617 * 512, 618 * 512),
    (512, 1024),
];

#[derive(Debug, Clone)]
struct Mutation {
    disk: usize,
    copy: u8,
    region: usize,
    offset: usize,
    value: u8,
    reseal: bool,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        0usize..4,
        0u8..3,
        0usize..HOT.len(),
        any::<usize>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(disk, copy, region, offset, value, reseal)| Mutation {
            disk,
            copy,
            region,
            offset,
            value,
            reseal,
        })
}

fn exercise(c: &mut Container) {
    let mut buf = vec![0u8; c.image_len().min(8 << 20)];
    for i in 0..c.disks.len() {
        let _ = c.write_disk(i, &mut buf);
    }
    let mut s = String::new();
    let _ = examine::examine_text(c, &[], true, 0, &mut s);
    let _ = examine::examine_json(c, &[], false, &mut s);
    for vcnum in 0..3u16 {
        let _ = c.set_array_state(vcnum, Consistency::Activate, ResyncProgress::InProgress, 1);
        for slot in 0..5 {
            let _ = c.set_disk(
                vcnum,
                slot,
                Some((DiskId(u64::from(slot)), 0)),
                DeviceState::FAULTY,
                2,
            );
        }
        let members = [ArrayMember {
            slot: 0,
            id: DiskId(0),
            faulty: false,
        }];
        let info = ArrayInfo {
            vcnum,
            level: 1,
            layout: 0,
            raid_disks: 2,
            component_size: 100,
            members: &members,
        };
        let mut ubuf = vec![0u8; 64 * 1024];
        if let Ok(Some(plan)) = c.activate_spare(&info, &mut ubuf) {
            if let Some(ctx) = c.update_context() {
                if let Ok(p) = ctx.prepare(&ubuf[..plan.update_len]) {
                    c.process_update(p, 3);
                }
            }
        }
    }
    c.begin_sync(4);
    for i in 0..c.disks.len() {
        let _ = c.write_disk(i, &mut buf);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn mutated_synthetic_metadata_never_panics(muts in proptest::collection::vec(mutation(), 1..6), r10 in any::<bool>()) {
        let mut disks = build(&if r10 { raid10() } else { raid5_with_spare() });
        for m in &muts {
            let d = &mut disks[m.disk];
            let base = match m.copy { 0 => d.primary(), 1 => d.secondary(), _ => d.anchor() };
            let (lo, hi) = if m.copy == 2 { (0, 512) } else { HOT[m.region] };
            let at = base + lo + m.offset % (hi - lo);
            if let Some(b) = d.tail.get_mut(at) {
                *b = m.value;
            }
            if m.reseal && base + 512 <= d.tail.len() {
                reseal(&mut d.tail, base, 512);
            }
        }
        let inputs: Vec<_> = disks.iter().enumerate().map(|(i, d)| d.input(i as u64)).collect();
        let mut c = Box::new(Container::new());
        if c.load(&inputs).is_ok() {
            exercise(&mut c);
        }
    }

    #[test]
    fn truncated_tails_never_panic(cut in 0usize..(TAIL_SECTORS as usize * 512), extra in 0u64..4) {
        let disks = build(&raid5_with_spare());
        let tail = &disks[0].tail[cut..];
        let m = MemberInput { id: DiskId(0), disk_bytes: disks[0].sectors * 512 + extra * 512, sector_size: 512, tail };
        let mut c = Box::new(Container::new());
        let _ = c.load(&[m]);
    }

    #[test]
    fn arbitrary_update_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), magic in 0usize..4) {
        let disks = build(&raid5_with_spare());
        let mut c = load_all(&disks);
        let ctx = c.update_context().unwrap();
        let mut payload = bytes;
        let magics = [0x2222_2222u32, 0xDDDD_DDDD, 0xEEEE_EEEE, 0x5555_5555];
        if payload.len() >= 4 {
            payload[..4].copy_from_slice(&magics[magic].to_be_bytes());
        }
        if let Ok(p) = ctx.prepare(&payload) {
            c.process_update(p, 9);
            exercise(&mut c);
        }
    }

    #[test]
    fn mutated_vd_conf_updates_never_panic(pos in proptest::collection::vec((0usize..3584, any::<u8>()), 1..8), k in 1usize..4) {
        let disks = build(&raid10());
        let mut c = load_all(&disks);
        let ctx = c.update_context().unwrap();
        let rec = disks[0].tail[disks[0].primary() + 162 * 512..][..3584].to_vec();
        let mut payload: Vec<u8> = rec.iter().copied().cycle().take(3584 * k).collect();
        for (p, v) in pos {
            payload[p] = v;
        }
        if let Ok(p) = ctx.prepare(&payload) {
            c.process_update(p, 9);
            exercise(&mut c);
        }
    }
}

fn load_all(disks: &[SynthDisk]) -> Box<Container> {
    let inputs: Vec<_> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| d.input(i as u64))
        .collect();
    let mut c = Box::new(Container::new());
    c.load(&inputs).unwrap();
    c
}
