//! The second half of external bad-block handling (docs/monitor.md, "Bad blocks",
//! *Reconciling*), through the real IMSM handler: the BBM log follows md's `bad_blocks`
//! list. A range md cleared (a `repair` rewrote it) leaves the log; a range md lists that the
//! log lacks is recorded; nothing is cleared from a list that may not have been read whole.

mod imsm_support;

use imsm_support::*;
use mdmon_core::handler::imsm::ImsmMetadata;
use mdmon_core::imsm::container::{Compat, Container};
use mdmon_core::monitor::{
    reconcile_bad_blocks, wants_reconcile, ArrayRecord, Member, Reconciled, BAD_BLOCK_LIST_BYTES,
};
use mdmon_core::sysfs::{ArrayState, DiskState};

fn container() -> Container {
    two_disk_raid1_container(Compat::Mdadm42)
}

fn record() -> ArrayRecord {
    let bbl = DiskState::IN_SYNC | DiskState::EXTERNAL_BBL;
    let mut a = ArrayRecord::new(0, 1, 2, 65536);
    a.members.push(Member::new(0, 8, 0, bbl)).unwrap();
    a.members.push(Member::new(1, 8, 16, bbl)).unwrap();
    for m in a.members.iter_mut() {
        m.curr_state = bbl;
    }
    a
}

/// Slot 1's log as (start, length), sorted.
fn log(meta: &ImsmMetadata) -> Vec<(u64, u32)> {
    let mut v: Vec<(u64, u32)> = meta
        .container
        .mpb
        .bbm
        .iter()
        .filter(|e| e.disk_ordinal == 1)
        .map(|e| (e.start, e.len))
        .collect();
    v.sort_unstable();
    v
}

fn meta_with(entries: &[(u64, u64)]) -> ImsmMetadata {
    let mut c = container();
    for &(s, l) in entries {
        assert!(c.record_bad_block(0, 1, s, l).unwrap() > 0);
    }
    ImsmMetadata::new(c)
}

#[test]
fn a_range_md_no_longer_lists_leaves_the_log() {
    let mut meta = meta_with(&[(16384, 8), (20000, 16)]);
    let mut a = record();
    // md rewrote 16384+8 in a repair and dropped it; 20000+16 is still bad.
    let out = reconcile_bad_blocks(&mut a, 1, b"20000 16\n", &mut meta);
    assert_eq!(out, Reconciled::Changed);
    assert_eq!(log(&meta), vec![(20000, 16)]);
    // In line now: a second pass changes nothing (no metadata write every pass).
    let out = reconcile_bad_blocks(&mut a, 1, b"20000 16\n", &mut meta);
    assert_eq!(out, Reconciled::Unchanged);
    // Everything rewritten: the log is empty.
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, b"", &mut meta),
        Reconciled::Changed
    );
    assert!(log(&meta).is_empty());
}

#[test]
fn equal_sectors_in_other_entries_are_not_a_change() {
    // The log splits 600 sectors into 256 + 256 + 88; md lists them as one range, and
    // merges two neighbours the log keeps apart.
    let mut meta = meta_with(&[(1000, 600), (4000, 8), (4008, 8)]);
    let before = log(&meta);
    assert_eq!(before.len(), 5);
    let mut a = record();
    let out = reconcile_bad_blocks(&mut a, 1, b"1000 600\n4000 16\n", &mut meta);
    assert_eq!(out, Reconciled::Unchanged);
    assert_eq!(log(&meta), before);
}

#[test]
fn a_range_md_split_is_recorded_as_md_lists_it() {
    // md cleared the middle of 1000+64 (a rewrite of 1016..1032 succeeded).
    let mut meta = meta_with(&[(1000, 64)]);
    let mut a = record();
    let out = reconcile_bad_blocks(&mut a, 1, b"1000 16\n1032 32\n", &mut meta);
    assert_eq!(out, Reconciled::Changed);
    assert_eq!(log(&meta), vec![(1000, 16), (1032, 32)]);
}

#[test]
fn a_range_only_md_knows_is_recorded() {
    let mut meta = meta_with(&[]);
    let mut a = record();
    let out = reconcile_bad_blocks(&mut a, 1, b"30000 8\n", &mut meta);
    assert_eq!(out, Reconciled::Changed);
    assert_eq!(log(&meta), vec![(30000, 8)]);
}

#[test]
fn a_list_that_may_be_cut_clears_nothing() {
    let mut meta = meta_with(&[(16384, 8)]);
    let mut a = record();
    // A line cut at the end of the read.
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, b"20000 8\n300", &mut meta),
        Reconciled::Changed
    );
    assert_eq!(log(&meta), vec![(16384, 8), (20000, 8)]);
    // A line that does not parse.
    let mut meta = meta_with(&[(16384, 8)]);
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, b"bad line\n", &mut meta),
        Reconciled::Unchanged
    );
    assert_eq!(log(&meta), vec![(16384, 8)]);
    // A read as long as the page md prints into: entries may lie beyond it.
    let mut text = Vec::new();
    let mut s = 100_000u64;
    while text.len() < BAD_BLOCK_LIST_BYTES - 20 {
        text.extend_from_slice(format!("{s} 1\n").as_bytes());
        s += 2;
    }
    let mut meta = meta_with(&[(16384, 8)]);
    let _ = reconcile_bad_blocks(&mut a, 1, &text, &mut meta);
    assert!(log(&meta).contains(&(16384, 8)), "kept: the list may go on");
}

#[test]
fn a_full_log_turns_external_bad_blocks_off() {
    let mut meta = meta_with(&[]);
    let mut a = record();
    // 300 separate ranges: the IMSM log holds 254 entries in all.
    let text: String = (0..300u64)
        .map(|i| format!("{} 1\n", 50_000 + 4 * i))
        .collect();
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, text.as_bytes(), &mut meta),
        Reconciled::DisableExternalBbl
    );
}

#[test]
fn only_live_members_with_external_bad_blocks_are_reconciled() {
    let mut meta = meta_with(&[(16384, 8)]);
    let mut a = record();
    a.members[1].curr_state = DiskState::IN_SYNC;
    assert!(!wants_reconcile(&a, 1));
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, b"", &mut meta),
        Reconciled::Unchanged
    );
    a.members[1].curr_state = DiskState::FAULTY | DiskState::EXTERNAL_BBL;
    assert!(!wants_reconcile(&a, 1));
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, b"", &mut meta),
        Reconciled::Unchanged
    );
    assert_eq!(log(&meta), vec![(16384, 8)]);
    // A write waiting for the dirty mark is not held up by it; the next pass reconciles.
    a.members[1].curr_state = DiskState::IN_SYNC | DiskState::EXTERNAL_BBL;
    a.curr_state = ArrayState::WritePending;
    assert!(!wants_reconcile(&a, 1));
    a.curr_state = ArrayState::Active;
    assert!(wants_reconcile(&a, 1));
}

#[test]
fn a_bad_block_of_the_volume_before_is_not_this_volumes() {
    // Two volumes back to back on both disks: vol1 starts where vol0's extent ends. A bad
    // block in vol0's last 8 sectors ends exactly where vol1 starts: it is vol0's alone, so
    // vol1's reconcile (md lists nothing for vol1) must leave it in the log.
    let mut spec = two_disk_raid1();
    let mut second = raid1_vol("vol1", 0);
    let boundary = spec.vols[0].map0.blocks_per_member;
    second.map0.pba = boundary;
    second.vol_id = 2;
    spec.vols.push(second);
    let mut c = load_spec(&spec, &["MDRS0001", "MDRS0002"], Compat::Mdadm42);
    assert_eq!(c.mpb.volumes[1].map0.raw.pba_of_lba0(), boundary);
    assert!(c.record_bad_block(0, 1, boundary - 8, 8).unwrap() > 0);
    let mut out = heapless::Vec::new();
    c.get_bad_blocks(1, 1, &mut out).unwrap();
    assert!(out.is_empty(), "vol1 lists vol0's bad block: {out:?}");
    let mut meta = ImsmMetadata::new(c);
    let mut a = record();
    a.inst = 1;
    assert_eq!(
        reconcile_bad_blocks(&mut a, 1, b"", &mut meta),
        Reconciled::Unchanged
    );
    assert_eq!(log(&meta), vec![(boundary - 8, 8)]);
}
