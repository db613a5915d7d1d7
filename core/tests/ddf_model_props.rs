//! After any sequence of handler operations, what the writer produces loads back into the
//! same model (docs/ddf.md, "A written container loads back the same") and keeps the
//! on-disk invariants ("What a write keeps true").

mod ddf_support;

use ddf_support::*;
use mdmon_core::ddf::ops::{ArrayInfo, ArrayMember, Consistency, DeviceState, ResyncProgress};
use mdmon_core::ddf::write::apply_plan;
use mdmon_core::ddf::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    State(u8, u8),
    Disk(u32, u64, u8),
    Spare(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u8..3).prop_map(|(c, p)| Op::State(c, p)),
        (0u32..4, 0u64..4, 0u8..4).prop_map(|(s, d, b)| Op::Disk(s, d, b)),
        (0u8..4).prop_map(Op::Spare),
    ]
}

fn apply(c: &mut Container, op: &Op, now: u32, level: i32, layout: u32, raid_disks: u32) {
    match *op {
        Op::State(cons, prog) => {
            let cons = [
                Consistency::Dirty,
                Consistency::Clean,
                Consistency::Activate,
            ][cons as usize];
            let prog = [
                ResyncProgress::NotStarted,
                ResyncProgress::InProgress,
                ResyncProgress::Complete,
            ][prog as usize];
            c.set_array_state(0, cons, prog, now).unwrap();
        }
        Op::Disk(slot, disk, bits) => {
            let bits = [
                DeviceState::FAULTY,
                DeviceState::IN_SYNC,
                DeviceState::FAULTY | DeviceState::IN_SYNC,
                DeviceState::empty(),
            ][bits as usize];
            // md reports on the disk that holds the slot, or on a disk outside the VD that
            // recovery put there; never on a member of another slot of the same VD (a state
            // the kernel cannot produce, and one a per-disk record list cannot describe).
            let guid = c.vd_guid(0).unwrap();
            let owner = c
                .slot_element(&guid, slot)
                .and_then(|(b, raw)| c.bvd(&guid, b).map(|b| b.elements[raw].refnum))
                .and_then(|r| c.disk_by_refnum(r))
                .map(|d| c.disks[d].id);
            let outsider = c.disks.iter().find(|d| {
                d.id == DiskId(disk)
                    && (0..4).all(|k| {
                        c.bvd(&guid, k)
                            .is_none_or(|b| b.find_refnum(d.refnum()).is_none())
                    })
            });
            let id = match (owner, outsider) {
                (Some(o), _) if disk % 2 == 0 => Some(o),
                (_, Some(d)) => Some(d.id),
                (o, None) => o,
            };
            if let Some(id) = id {
                let _ = c.set_disk(0, slot, Some((id, 0)), bits, now);
            }
        }
        Op::Spare(missing) => {
            let members: Vec<ArrayMember> = (0..raid_disks)
                .filter(|s| *s != u32::from(missing))
                .map(|s| ArrayMember {
                    slot: s,
                    id: DiskId(u64::from(s)),
                    faulty: false,
                })
                .collect();
            let info = ArrayInfo {
                vcnum: 0,
                level,
                layout,
                raid_disks,
                component_size: 20480,
                members: &members,
            };
            let mut buf = vec![0u8; 4 * 3584];
            if let Ok(Some(plan)) = c.activate_spare(&info, &mut buf) {
                let p = c
                    .update_context()
                    .unwrap()
                    .prepare(&buf[..plan.update_len])
                    .unwrap();
                c.process_update(p, now);
            }
        }
    }
}

fn write_all(c: &Container, disks: &[SynthDisk]) -> Vec<SynthDisk> {
    let mut buf = vec![0u8; c.image_len()];
    c.disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut out = disks[d.id.0 as usize].clone();
            let plan = c.write_disk(i, &mut buf).unwrap();
            assert!(apply_plan(&plan, &buf, out.sectors * 512, &mut out.tail));
            out
        })
        .collect()
}

fn check_invariants(c: &Container, written: &[SynthDisk]) {
    let copy = |d: &SynthDisk, off: usize| d.tail[off..off + 618 * 512].to_vec();
    let first_globals = copy(&written[0], written[0].primary())[512..162 * 512].to_vec();
    for d in written {
        let p = copy(d, d.primary());
        let s = copy(d, d.secondary());
        let a = &d.tail[d.anchor()..d.anchor() + 512];
        // Headers: closed, CRCs valid, copies equal except type and CRC; anchor equal from 113.
        for h in [&p[..512], &s[..512], a] {
            assert!(crc::crc_ok(h));
        }
        assert_eq!((p[48], s[48], a[48]), (0, 0, 0xFF));
        assert_eq!((p[112], s[112], a[112]), (1, 2, 0));
        assert_eq!(&p[8..112], &s[8..112]);
        assert_eq!(&p[113..512], &s[113..512]);
        assert_eq!(&p[113..512], &a[113..512]);
        assert_eq!(&a[40..44], &[0xFF; 4]);
        // Sections identical between copies; global sections identical on every disk.
        assert_eq!(&p[512..], &s[512..]);
        assert_eq!(&p[512..162 * 512], &first_globals[..]);
        for (o, l) in [(1usize, 1usize), (2, 128), (130, 32), (617, 1)] {
            assert!(crc::crc_ok(&p[o * 512..(o + l) * 512]));
        }
        // A config record is present iff it lists this disk's refnum.
        let refnum = u32::from_be_bytes(p[617 * 512 + 32..617 * 512 + 36].try_into().unwrap());
        for slot in 0..65 {
            let r = &p[(162 + 7 * slot) * 512..(162 + 7 * (slot + 1)) * 512];
            if r[..4] == [0xEE; 4] {
                assert!(crc::crc_ok(r));
                let listed = (0..256).any(|i| r[512 + 4 * i..516 + 4 * i] == refnum.to_be_bytes());
                assert!(
                    listed,
                    "record in slot {slot} does not list disk {refnum:08x}"
                );
            }
        }
    }
    for g in c.volumes.iter() {
        for k in 0..g.sec_count {
            let b = c.bvd(&g.guid, k).unwrap();
            for e in b.members() {
                if let Some(d) = c.disk_by_refnum(e.refnum) {
                    assert!(c.disks[d].slots.contains(&ConfigSlot::Volume(g.guid)));
                }
            }
        }
    }
}

/// The model with every stored CRC zeroed: CRCs are recomputed on write, so the in-memory
/// copies of changed structures are stale by design and not part of the model's meaning.
fn normalised(c: &Container) -> Box<Container> {
    let mut n = Box::new(c.clone());
    n.controller.crc.set(0);
    n.phys.crc.set(0);
    n.virt.crc.set(0);
    for b in n.bvds.iter_mut() {
        b.fixed.crc.set(0);
    }
    for d in n.disks.iter_mut() {
        d.pd_data.crc.set(0);
    }
    // A slot naming a VD none of whose BVDs lists the disk any more is written as empty
    // (as mdadm does); it means the same as Empty.
    for i in 0..n.disks.len() {
        let refnum = n.disks[i].refnum();
        let stale: Vec<usize> = n.disks[i]
            .slots
            .iter()
            .enumerate()
            .filter(
                |(_, s)| matches!(s, ConfigSlot::Volume(g) if n.bvd_listing(g, refnum).is_none()),
            )
            .map(|(k, _)| k)
            .collect();
        for k in stale {
            n.disks[i].slots[k] = ConfigSlot::Empty;
        }
    }
    n
}

fn same_model(a: &Container, b: &Container) {
    let (a, b) = (normalised(a), normalised(b));
    assert_eq!(a.header.as_bytes_for_test(), b.header.as_bytes_for_test());
    assert_eq!(a.controller, b.controller);
    assert_eq!(a.phys, b.phys);
    assert!(a.pds == b.pds, "PD tables differ");
    assert_eq!(a.virt, b.virt);
    assert!(a.vds == b.vds, "VD tables differ");
    assert_eq!(a.volumes.len(), b.volumes.len());
    for v in a.volumes.iter() {
        assert_eq!(b.volume(&v.guid), Some(v));
        for k in 0..v.sec_count {
            assert_eq!(a.bvd(&v.guid, k), b.bvd(&v.guid, k));
        }
    }
    assert_eq!(a.disks.len(), b.disks.len());
    for (x, y) in a.disks.iter().zip(b.disks.iter()) {
        assert_eq!(
            (x.id, x.pd_index, x.timestamp),
            (y.id, y.pd_index, y.timestamp)
        );
        assert!(x.pd_data == y.pd_data, "PD data of {:?}", x.id);
        assert!(
            x.slots == y.slots,
            "slots of {:?}: {:?} vs {:?}",
            x.id,
            &x.slots[..4],
            &y.slots[..4]
        );
        // `rebuilding` is memory only: a load derives it from the Rebuilding bits, which
        // the PD tables compared above carry (handler_ddf tests what it does).
        let (mut x, mut y) = (x.clone(), y.clone());
        x.rebuilding.clear();
        y.rebuilding.clear();
        assert!(x == y, "disk {:?}", x.id);
    }
}

trait HeaderBytes {
    fn as_bytes_for_test(&self) -> Vec<u8>;
}
impl HeaderBytes for layout::Header {
    /// Everything the writer takes from the model's header (per-disk fields excluded).
    fn as_bytes_for_test(&self) -> Vec<u8> {
        let mut h = *self;
        h.crc.set(0);
        h.open_flag = 0;
        h.header_type = 0;
        h.timestamp.set(0);
        h.primary_lba.set(0);
        h.secondary_lba.set(0);
        h.workspace_lba.set(0);
        zerocopy::IntoBytes::as_bytes(&h).to_vec()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn write_then_load_gives_the_same_model(ops in proptest::collection::vec(op(), 0..12), r10 in any::<bool>()) {
        let spec = if r10 { raid10() } else { raid5_with_spare() };
        let (level, layout, raid_disks) = if r10 { (10, 0x102, 4) } else { (5, 2, 3) };
        let disks = build(&spec);
        let inputs: Vec<_> = disks.iter().enumerate().map(|(i, d)| d.input(i as u64)).collect();
        let mut c = Box::new(Container::new());
        c.load(&inputs).unwrap();
        let seq0 = c.header.seq.get();
        for (t, o) in ops.iter().enumerate() {
            apply(&mut c, o, 1000 + t as u32, level, layout, raid_disks);
        }
        let pending = c.updates_pending;
        // One write batch: the sequence moved by exactly one if anything changed.
        prop_assert_eq!(c.header.seq.get(), seq0 + u32::from(pending));
        c.begin_sync(5000);
        let written = write_all(&c, &disks);
        check_invariants(&c, &written);
        let inputs: Vec<_> = c.disks.iter().zip(written.iter()).map(|(d, w)| w.input(d.id.0)).collect();
        let mut r = Box::new(Container::new());
        r.load(&inputs).unwrap();
        prop_assert!(r.findings.is_empty(), "{:?}", r.findings);
        same_model(&c, &r);
        // Right after set_disk on an existing slot the VD state equals the computation over
        // the current PD states (docs/ddf.md, "VD state"); a VD_CONF update does not
        // recompute it (nor does mdadm).
        let guid = c.vd_guid(0).unwrap();
        if matches!(ops.last(), Some(Op::Disk(slot, ..)) if *slot < raid_disks) {
            prop_assert_eq!(VdState::from_byte(c.vds[0].state), c.volume_state(&guid).unwrap());
        }
    }
}
