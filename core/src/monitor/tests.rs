extern crate std;
use super::*;
use std::vec::Vec as StdVec;

/// Records what the monitor asked of the handler, in order; answers `LeavingReadOnly`
/// with `clean_on_activation`.
#[derive(Default)]
struct Recorder {
    calls: StdVec<Call>,
    clean_on_activation: bool,
    /// Answer for `record_bad_block` (`None`: recorded).
    bb_error: Option<BadBlockError>,
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Call {
    State(Consistency, u64),
    Disk(u32, DiskState),
    BadBlock(u32, BadBlock),
}

impl MonitorHandler for Recorder {
    fn set_array_state(&mut self, array: &mut ArrayRecord, c: Consistency) -> bool {
        self.calls.push(Call::State(c, array.last_checkpoint));
        match c {
            Consistency::LeavingReadOnly => self.clean_on_activation,
            Consistency::Clean => true,
            Consistency::Dirty => false,
        }
    }
    fn set_disk(&mut self, _array: &mut ArrayRecord, slot: u32, state: DiskState) {
        self.calls.push(Call::Disk(slot, state));
    }
    fn record_bad_block(
        &mut self,
        _array: &mut ArrayRecord,
        slot: u32,
        bb: BadBlock,
    ) -> Result<(), BadBlockError> {
        self.calls.push(Call::BadBlock(slot, bb));
        self.bb_error.map_or(Ok(()), Err)
    }
}

fn raid1() -> ArrayRecord {
    let mut a = ArrayRecord::new(0, 1, 2, 65536);
    let in_sync = DiskState::IN_SYNC;
    a.members.push(Member::new(0, 8, 0, in_sync)).unwrap();
    a.members.push(Member::new(1, 8, 16, in_sync)).unwrap();
    a
}

fn obs(state: ArrayState, action: SyncAction) -> Observation {
    let mut members = heapless::Vec::new();
    for _ in 0..2 {
        members
            .push(MemberObservation {
                state: Some(DiskState::IN_SYNC),
                recovery_start: Some(MAX_SECTOR),
            })
            .unwrap();
    }
    Observation {
        array_state: state,
        sync_action: action,
        resync_start: Some(MAX_SECTOR),
        component_size: None,
        sync_completed: 0,
        blocked: false,
        reshape_finished: None,
        members,
    }
}

fn writes(out: &PassOutcome) -> StdVec<SysfsWrite> {
    out.writes(&MetadataSynced::after_writes_completed())
        .collect()
}

#[test]
fn write_pending_marks_dirty_then_writes_active() {
    let mut a = raid1();
    a.prev_state = ArrayState::Clean;
    let mut h = Recorder::default();
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::WritePending, SyncAction::Idle),
        &mut h,
    );
    assert_eq!(h.calls, [Call::State(Consistency::Dirty, 0)]);
    assert_eq!(writes(&out), [SysfsWrite::ArrayState(ArrayState::Active)]);
    assert!(out.dirty);
    assert_eq!(a.prev_state, ArrayState::WritePending);
}

#[test]
fn active_idle_asks_the_kernel_for_clean_without_marking_metadata_clean() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    let mut h = Recorder::default();
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::ActiveIdle, SyncAction::Idle),
        &mut h,
    );
    assert!(
        h.calls.is_empty(),
        "metadata must stay dirty until the kernel says clean"
    );
    assert_eq!(out.next_state, Some(ArrayState::Clean));
    assert!(out.dirty);
    // next pass: the kernel reports clean, now the metadata goes clean
    let out = read_and_act(&mut a, &obs(ArrayState::Clean, SyncAction::Idle), &mut h);
    assert_eq!(h.calls, [Call::State(Consistency::Clean, 0)]);
    assert_eq!(out.next_state, None);
    assert!(!out.dirty);
}

#[test]
fn readonly_activation_follows_the_handler() {
    for (clean, expect) in [(true, ArrayState::ReadAuto), (false, ArrayState::Active)] {
        let mut a = raid1();
        let mut h = Recorder {
            clean_on_activation: clean,
            ..Default::default()
        };
        let out = read_and_act(&mut a, &obs(ArrayState::Readonly, SyncAction::Idle), &mut h);
        assert_eq!(h.calls, [Call::State(Consistency::LeavingReadOnly, 0)]);
        assert_eq!(out.next_state, Some(expect));
        assert_eq!(out.dirty, !clean);
    }
}

#[test]
fn a_blocked_readonly_array_is_left_alone() {
    let mut a = raid1();
    let mut h = Recorder::default();
    let mut o = obs(ArrayState::Readonly, SyncAction::Idle);
    o.blocked = true;
    let out = read_and_act(&mut a, &o, &mut h);
    assert!(h.calls.is_empty());
    assert_eq!(out, PassOutcome::default());
}

#[test]
fn a_stopped_array_is_marked_clean_then_cleared_and_left() {
    let mut a = raid1();
    a.prev_state = ArrayState::Clean;
    let mut h = Recorder::default();
    let out = read_and_act(&mut a, &obs(ArrayState::Inactive, SyncAction::Idle), &mut h);
    assert_eq!(h.calls, [Call::State(Consistency::Clean, 0)]);
    assert_eq!(writes(&out), [SysfsWrite::ArrayState(ArrayState::Clear)]);
    assert!(out.deactivated);
    assert!(!a.live);
    // an array that never ran is not "stopped"
    let mut b = raid1();
    let out = read_and_act(&mut b, &obs(ArrayState::Inactive, SyncAction::Idle), &mut h);
    assert!(!out.deactivated && b.live);
}

#[test]
fn a_failed_member_is_recorded_unblocked_and_handed_to_the_manager() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    let mut h = Recorder::default();
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.members[1].state = Some(DiskState::FAULTY | DiskState::BLOCKED);
    let out = read_and_act(&mut a, &o, &mut h);
    assert_eq!(
        h.calls,
        [Call::Disk(1, DiskState::FAULTY | DiskState::BLOCKED)]
    );
    assert_eq!(writes(&out), [SysfsWrite::Unblock(1)]);
    assert!(out.wake_manager && a.check_degraded);
    assert!(a.members[1].remove_requested);
    // the next pass does not report it again
    let mut h = Recorder::default();
    let out = read_and_act(&mut a, &o, &mut h);
    assert!(h.calls.is_empty());
    assert!(out.unblock.is_empty() && !out.wake_manager);
}

#[test]
fn a_failure_in_read_auto_makes_the_array_active_and_in_readonly_keeps_the_member() {
    let mut a = raid1();
    a.prev_state = ArrayState::ReadAuto;
    let mut h = Recorder::default();
    let mut o = obs(ArrayState::ReadAuto, SyncAction::Idle);
    o.members[0].state = Some(DiskState::FAULTY);
    let out = read_and_act(&mut a, &o, &mut h);
    assert_eq!(
        h.calls,
        [
            Call::Disk(0, DiskState::FAULTY),
            Call::State(Consistency::Dirty, 0)
        ]
    );
    assert_eq!(out.next_state, Some(ArrayState::Active));
    assert!(a.members[0].remove_requested);

    let mut b = raid1();
    let mut o = obs(ArrayState::Readonly, SyncAction::Idle);
    o.blocked = true;
    o.members[0].state = Some(DiskState::FAULTY | DiskState::BLOCKED);
    let out = read_and_act(&mut b, &o, &mut h);
    assert_eq!(out.unblock.as_slice(), &[0]);
    assert!(
        !b.members[0].remove_requested,
        "read-only arrays keep failed members"
    );
}

#[test]
fn the_end_of_a_recovery_reports_every_member_and_checks_for_spares() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    a.prev_action = SyncAction::Recover;
    let mut h = Recorder::default();
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.members[1].state = Some(DiskState::empty());
    let out = read_and_act(&mut a, &o, &mut h);
    assert_eq!(
        h.calls,
        [
            Call::Disk(0, DiskState::IN_SYNC),
            Call::Disk(1, DiskState::empty())
        ]
    );
    assert!(a.check_degraded && out.wake_manager);

    let mut a = raid1();
    a.prev_action = SyncAction::Recover;
    let mut h = Recorder::default();
    let out = read_and_act(&mut a, &obs(ArrayState::Active, SyncAction::Idle), &mut h);
    assert_eq!(h.calls.len(), 2);
    assert!(
        !a.check_degraded,
        "all members in sync: no spare needed here"
    );
    assert!(
        out.wake_manager,
        "the disk just rebuilt may be the spare another array waits for"
    );
    // The next pass, nothing new: the manager is left alone.
    let out = read_and_act(&mut a, &obs(ArrayState::Active, SyncAction::Idle), &mut h);
    assert!(!out.wake_manager);
}

/// A recovery too short for any pass to see `recover` (md had delayed it behind another
/// array on the same disks, then ran it between two wake-ups): the member that turned in
/// sync is still reported, once.
#[test]
fn a_member_turning_in_sync_is_reported_without_a_seen_recovery() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    a.members[1].prev_state = DiskState::empty();
    let mut h = Recorder::default();
    let out = read_and_act(&mut a, &obs(ArrayState::Active, SyncAction::Idle), &mut h);
    assert_eq!(h.calls, [Call::Disk(1, DiskState::IN_SYNC)]);
    assert!(
        out.wake_manager,
        "a rebuilt disk may be another array's spare"
    );
    let mut h = Recorder::default();
    let out = read_and_act(&mut a, &obs(ArrayState::Active, SyncAction::Idle), &mut h);
    assert!(h.calls.is_empty(), "reported once: {:?}", h.calls);
    assert!(!out.wake_manager);
}

/// md reads `recover` from the end of one recovery into the next (it flags "recovery
/// needed" when it reaps one, and again when a member fails right after), so no pass sees
/// `idle`. The member that turned in sync is still reported, before the failure seen in the
/// same pass: a DDF disk left Rebuilding beside a Failed one strands both volumes.
#[test]
fn a_member_turning_in_sync_while_md_reads_recover_is_reported_before_a_failure() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    a.prev_action = SyncAction::Recover;
    a.members[1].prev_state = DiskState::empty();
    let mut h = Recorder::default();
    let mut o = obs(ArrayState::Active, SyncAction::Recover);
    o.members[0].state = Some(DiskState::FAULTY);
    read_and_act(&mut a, &o, &mut h);
    assert_eq!(
        h.calls,
        [
            Call::Disk(1, DiskState::IN_SYNC),
            Call::Disk(0, DiskState::FAULTY)
        ]
    );
}

/// Members turning in sync while a reshape runs belong to the reshape's own end.
#[test]
fn a_member_turning_in_sync_during_a_reshape_is_not_reported() {
    for (prev, curr) in [
        (SyncAction::Reshape, SyncAction::Reshape),
        (SyncAction::Idle, SyncAction::Reshape),
        (SyncAction::Unknown, SyncAction::Idle),
    ] {
        let mut a = raid1();
        a.prev_state = ArrayState::Active;
        a.prev_action = prev;
        a.members[1].prev_state = DiskState::empty();
        let mut h = Recorder::default();
        read_and_act(&mut a, &obs(ArrayState::Active, curr), &mut h);
        assert!(
            !h.calls.iter().any(|c| matches!(c, Call::Disk(..))),
            "{prev:?} -> {curr:?}: {:?}",
            h.calls
        );
    }
}

#[test]
fn resync_progress_is_checkpointed_and_reset_at_the_end() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    a.prev_action = SyncAction::Resync;
    let mut h = Recorder::default();
    let mut o = obs(ArrayState::Active, SyncAction::Resync);
    o.sync_completed = 4096;
    read_and_act(&mut a, &o, &mut h);
    assert_eq!(h.calls, [Call::State(Consistency::Dirty, 4096)]);
    assert_eq!(a.last_checkpoint, 4096);
    // no progress: no write
    let mut h = Recorder::default();
    read_and_act(&mut a, &o, &mut h);
    assert!(h.calls.is_empty());
    // finished
    o.sync_completed = a.component_size;
    let mut h = Recorder::default();
    read_and_act(&mut a, &o, &mut h);
    assert_eq!(h.calls, [Call::State(Consistency::Dirty, 65536)]);
    assert_eq!(a.last_checkpoint, 0);
}

#[test]
fn a_finished_reshape_tells_the_handler_to_finalise() {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    a.prev_action = SyncAction::Reshape;
    assert!(a.wants_reshape_position());
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.sync_completed = 0;
    o.reshape_finished = Some(true);
    let mut h = Recorder::default();
    read_and_act(&mut a, &o, &mut h);
    assert_eq!(h.calls, [Call::State(Consistency::Dirty, 65536)]);

    // interrupted: keeps the checkpoint it reached
    let mut a = raid1();
    a.prev_action = SyncAction::Reshape;
    a.last_checkpoint = 100;
    o.reshape_finished = Some(false);
    o.sync_completed = 300;
    let mut h = Recorder::default();
    read_and_act(&mut a, &o, &mut h);
    assert_eq!(h.calls, [Call::State(Consistency::Dirty, 300)]);
}

#[test]
fn the_start_of_a_reshape_wakes_the_manager() {
    let mut a = raid1();
    let mut h = Recorder::default();
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::Active, SyncAction::Reshape),
        &mut h,
    );
    assert!(a.check_reshape && out.wake_manager);
}

#[test]
fn a_withdrawn_record_is_handed_back_without_any_decision() {
    // The manager withdraws an array that became raid0 at the end of a grow: even a
    // state that would otherwise mark the metadata dirty must not reach the handler.
    let mut a = raid1();
    a.live = false;
    a.prev_state = ArrayState::Active;
    let mut h = Recorder::default();
    let out = read_and_act(
        &mut a,
        &obs(ArrayState::WritePending, SyncAction::Idle),
        &mut h,
    );
    assert!(h.calls.is_empty());
    assert!(out.deactivated && !out.dirty && !out.wake_manager);
    assert!(writes(&out).is_empty());
}

#[test]
fn failures_spread_to_sibling_arrays_on_the_same_disk() {
    let mut a = raid1();
    let mut b = raid1();
    b.inst = 1;
    a.members[1].curr_state = DiskState::FAULTY;
    let mut hits = StdVec::new();
    failures_to_propagate(&[&a, &b], |ai, mi| hits.push((ai, mi)));
    assert_eq!(hits, [(1, 1)]);
    b.members[1].curr_state = DiskState::FAULTY;
    hits.clear();
    failures_to_propagate(&[&a, &b], |ai, mi| hits.push((ai, mi)));
    assert!(hits.is_empty(), "already failed everywhere");
}

#[test]
fn resync_completion_by_level() {
    let mut a = raid1();
    a.resync_start = 100;
    assert!(!a.resync_complete());
    a.resync_start = MAX_SECTOR;
    assert!(a.resync_complete());
    let mut r10 = ArrayRecord::new(0, 10, 4, 1000);
    r10.layout = 0x102; // near=2, far=1
    r10.resync_start = 1999;
    assert!(!r10.resync_complete());
    r10.resync_start = 2000;
    assert!(r10.resync_complete());
    let r0 = ArrayRecord::new(0, 0, 2, 1000);
    assert!(r0.resync_complete());
}

// --- external bad-block log (docs/monitor.md, "Bad blocks") ---

const BBL_BLOCKED: DiskState = DiskState::IN_SYNC
    .union(DiskState::EXTERNAL_BBL)
    .union(DiskState::BLOCKED);

fn bb(sector: u64, len: u32) -> BadBlock {
    BadBlock { sector, len }
}

/// Member 1 of the raid1 reads `state` and `unacknowledged_bad_blocks` as given.
fn bb_pass(h: &mut Recorder, state: DiskState, unacked: &[u8]) -> (PassOutcome, ArrayRecord) {
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.members[1].state = Some(state);
    let out = read_and_act_bb(&mut a, &o, &[(1, BadBlockBatch::parse(unacked))], h);
    (out, a)
}

#[test]
fn unacknowledged_bad_blocks_are_recorded_then_acknowledged_then_unblocked() {
    let mut h = Recorder::default();
    let (out, _) = bb_pass(&mut h, BBL_BLOCKED, b"16384 8\n20000 1\n");
    assert_eq!(
        h.calls,
        [
            Call::BadBlock(1, bb(16384, 8)),
            Call::BadBlock(1, bb(20000, 1))
        ]
    );
    // acknowledgements strictly before `-blocked`, and only through the synced token
    assert_eq!(
        writes(&out),
        [
            SysfsWrite::AckBadBlock(1, bb(16384, 8)),
            SysfsWrite::AckBadBlock(1, bb(20000, 1)),
            SysfsWrite::Unblock(1),
        ]
    );
    assert!(!out.retry_soon);
    assert!(out.dirty);
}

#[test]
fn bad_blocks_wait_for_external_bbl_and_blocked() {
    for state in [
        DiskState::IN_SYNC | DiskState::EXTERNAL_BBL,
        DiskState::IN_SYNC | DiskState::BLOCKED,
        BBL_BLOCKED | DiskState::FAULTY,
    ] {
        let mut h = Recorder::default();
        let (out, _) = bb_pass(&mut h, state, b"16384 8\n");
        assert!(
            !h.calls.iter().any(|c| matches!(c, Call::BadBlock(..))),
            "{state:?}"
        );
        assert!(out.acks.is_empty(), "{state:?}");
        assert!(out.disable_bbl.is_empty(), "{state:?}");
    }
}

#[test]
fn a_refused_bad_block_turns_external_bbl_off_and_still_unblocks() {
    for err in [
        BadBlockError::Refused,
        BadBlockError::Unsupported,
        BadBlockError::NoSuchSlot,
    ] {
        let mut h = Recorder {
            bb_error: Some(err),
            ..Recorder::default()
        };
        let (out, _) = bb_pass(&mut h, BBL_BLOCKED, b"16384 8\n20000 1\n");
        // it stops at the first refusal
        assert_eq!(h.calls, [Call::BadBlock(1, bb(16384, 8))]);
        assert_eq!(
            writes(&out),
            [SysfsWrite::DisableExternalBbl(1), SysfsWrite::Unblock(1)]
        );
    }
}

#[test]
fn garbled_unacknowledged_text_never_leaves_the_member_blocked() {
    for text in [&b"garbage\n"[..], b"16384 0\n", b"-1 8\n", b"\xff\n"] {
        let mut h = Recorder::default();
        let (out, _) = bb_pass(&mut h, BBL_BLOCKED, text);
        assert!(h.calls.is_empty(), "{text:?}");
        assert_eq!(
            writes(&out),
            [SysfsWrite::DisableExternalBbl(1), SysfsWrite::Unblock(1)],
            "{text:?}"
        );
    }
    // an unreadable file is the same
    let mut a = raid1();
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.members[1].state = Some(BBL_BLOCKED);
    let mut h = Recorder::default();
    let out = read_and_act_bb(&mut a, &o, &[(1, BadBlockBatch::unreadable())], &mut h);
    assert_eq!(
        writes(&out),
        [SysfsWrite::DisableExternalBbl(1), SysfsWrite::Unblock(1)]
    );
    // good lines before the garbage are recorded and acknowledged; no fallback needed
    let mut h = Recorder::default();
    let (out, _) = bb_pass(&mut h, BBL_BLOCKED, b"8 8\nxx\n");
    assert_eq!(
        writes(&out),
        [SysfsWrite::AckBadBlock(1, bb(8, 8)), SysfsWrite::Unblock(1)]
    );
}

#[test]
fn an_empty_or_cut_unacknowledged_list_does_nothing_yet() {
    // empty: the kernel acknowledged it meanwhile; cut: the next read sees the whole line
    for (text, retry) in [(&b""[..], false), (b"1638", true)] {
        let mut h = Recorder::default();
        let (out, _) = bb_pass(&mut h, BBL_BLOCKED, text);
        assert!(h.calls.is_empty());
        assert!(writes(&out).is_empty());
        assert_eq!(out.retry_soon, retry);
    }
}

#[test]
fn more_bad_blocks_than_one_pass_takes_are_left_for_a_soon_pass() {
    let mut h = Recorder::default();
    let (out, _) = bb_pass(&mut h, BBL_BLOCKED, b"1 1\n3 1\n5 1\n7 1\n9 1\n11 1\n");
    assert_eq!(out.acks.len(), crate::sysfs::BAD_BLOCKS_PER_PASS);
    assert!(out.retry_soon);
    assert_eq!(out.unblock, [1]);
    // many members at once: the per-pass ack budget holds, the rest waits
    let mut a = ArrayRecord::new(0, 1, 8, 65536);
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.members.clear();
    let mut unacked = StdVec::new();
    for i in 0..8u32 {
        a.members
            .push(Member::new(i, 8, i * 16, BBL_BLOCKED))
            .unwrap();
        o.members
            .push(MemberObservation {
                state: Some(BBL_BLOCKED),
                recovery_start: Some(MAX_SECTOR),
            })
            .unwrap();
        unacked.push((i as usize, BadBlockBatch::parse(b"1 1\n3 1\n5 1\n")));
    }
    let mut h = Recorder::default();
    let out = read_and_act_bb(&mut a, &o, &unacked, &mut h);
    assert_eq!(out.acks.len(), MAX_ACKS_PER_PASS);
    assert!(out.retry_soon);
    assert!(out.disable_bbl.is_empty());
    // every recorded one is acknowledged; nothing is recorded that is not
    let recorded = h
        .calls
        .iter()
        .filter(|c| matches!(c, Call::BadBlock(..)))
        .count();
    assert_eq!(recorded, MAX_ACKS_PER_PASS);
}

#[test]
fn a_faulty_blocked_member_is_unblocked_once() {
    let mut h = Recorder::default();
    let mut a = raid1();
    a.prev_state = ArrayState::Active;
    let mut o = obs(ArrayState::Active, SyncAction::Idle);
    o.members[1].state = Some(DiskState::FAULTY | DiskState::BLOCKED | DiskState::EXTERNAL_BBL);
    let out = read_and_act_bb(&mut a, &o, &[(1, BadBlockBatch::parse(b"8 8\n"))], &mut h);
    assert_eq!(out.unblock, [1]);
    assert!(out.acks.is_empty());
}

/// Which passes vouch for data md already wrote, so the shell flushes the members' caches
/// before their metadata (docs/crash.md, "Flush before trust"): going clean, a member in
/// sync, a checkpoint; not going dirty (the latency a writer waits through), not staying
/// clean, not a failure.
#[test]
fn only_passes_that_vouch_for_written_data_ask_for_a_flush() {
    let pass = |prev: ArrayState, prev_action: SyncAction, o: &Observation| {
        let mut a = raid1();
        a.prev_state = prev;
        a.prev_action = prev_action;
        read_and_act(&mut a, o, &mut Recorder::default()).trusts_data
    };
    let idle = SyncAction::Idle;
    assert!(!pass(
        ArrayState::Clean,
        idle,
        &obs(ArrayState::WritePending, idle)
    ));
    assert!(!pass(
        ArrayState::Clean,
        idle,
        &obs(ArrayState::Clean, idle)
    ));
    assert!(!pass(
        ArrayState::Active,
        idle,
        &obs(ArrayState::Active, idle)
    ));
    assert!(pass(
        ArrayState::Active,
        idle,
        &obs(ArrayState::Clean, idle)
    ));
    assert!(pass(
        ArrayState::Active,
        idle,
        &obs(ArrayState::Inactive, idle)
    ));
    // the end of a recovery, and a checkpoint of one
    assert!(pass(
        ArrayState::Active,
        SyncAction::Recover,
        &obs(ArrayState::Active, idle)
    ));
    let mut o = obs(ArrayState::Active, SyncAction::Recover);
    o.sync_completed = 4096;
    assert!(pass(ArrayState::Active, SyncAction::Recover, &o));
    // a failure alone
    let mut o = obs(ArrayState::Active, idle);
    o.members[0].state = Some(DiskState::FAULTY | DiskState::BLOCKED);
    assert!(!pass(ArrayState::Active, idle, &o));
}
