//! Reconciling a member's bad-block log with md's list (docs/monitor.md, "Bad blocks",
//! *Reconciling*).
//!
//! md keeps its own table of a member's bad blocks and, with `external_bbl`, lists every
//! range in `dev-X/bad_blocks`. It drops a range from the table when a rewrite of it
//! succeeded (a resync or `repair` writes the good copy over it) and notifies the file. The
//! metadata must follow: a range md no longer lists leaves the log, so the next assembly
//! does not hand md a bad block the disk no longer has; a range md lists that the log lacks
//! (md merged or split ranges, or one not yet acknowledged) is recorded.
//!
//! Clearing trusts only a list read whole: md prints at most a page, so a read that comes
//! close to it, ends in a cut line or holds a line that does not parse clears nothing (it
//! may still record what it saw). Coverage is compared as sector sets, not entry by entry:
//! the log splits ranges into 256-sector entries and md merges neighbours, so equal sectors
//! often come in different entries.

use super::{ArrayRecord, MonitorHandler};
use crate::sysfs::{
    bad_block_lines, ArrayState, BadBlock, BadBlockLine, DiskState, BAD_BLOCK_LINE_MAX,
};
use heapless::Vec;

/// md prints `bad_blocks` into one page and stops there.
pub const BAD_BLOCK_LIST_BYTES: usize = 4096;

/// Ranges in md's table of one member (md's `MAX_BADBLOCKS`: a page of 8-byte entries).
pub const MAX_KERNEL_BAD_BLOCKS: usize = 512;

/// Ranges a format's log holds for one member at most (IMSM: the whole log's 254 entries).
pub const MAX_LOGGED_BAD_BLOCKS: usize = 256;

/// What reconciling one member changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// The log already matched md's list (or the member is not reconciled).
    Unchanged,
    /// Ranges were cleared from or recorded in the in-memory log (marked pending).
    Changed,
    /// A range md lists could not be recorded: write `-external_bbl` to the member's `state`
    /// (md then fails the member on its next error instead of trusting a log we cannot keep).
    DisableExternalBbl,
}

/// Whether member `index` of `array` is reconciled in this pass: md keeps its bad blocks
/// for the metadata (`external_bbl`), it has not failed, and it is not being removed. The
/// shell reads `dev-X/bad_blocks` only for these. Not while a write waits for the dirty mark
/// (`write-pending`): reconciling is never urgent, and its reads would stand between the
/// write and its release; the next pass does it.
pub fn wants_reconcile(array: &ArrayRecord, index: usize) -> bool {
    array.live
        && array.curr_state != ArrayState::WritePending
        && array.members.get(index).is_some_and(|m| {
            !m.remove_requested
                && m.curr_state.contains(DiskState::EXTERNAL_BBL)
                && !m.curr_state.contains(DiskState::FAULTY)
        })
}

/// md's list as read: its ranges, and whether the read shows all of it.
struct KernelList {
    ranges: Vec<BadBlock, MAX_KERNEL_BAD_BLOCKS>,
    whole: bool,
}

fn parse_list(text: &[u8]) -> KernelList {
    let mut out = KernelList {
        ranges: Vec::new(),
        // A read that reaches into the page's last line may have been cut by the page.
        whole: text.len() <= BAD_BLOCK_LIST_BYTES - BAD_BLOCK_LINE_MAX,
    };
    for line in bad_block_lines(text) {
        match line {
            BadBlockLine::Range(bb) if out.ranges.push(bb).is_ok() => {}
            _ => {
                out.whole = false;
                break;
            }
        }
    }
    out
}

fn end(bb: &BadBlock) -> u64 {
    bb.sector.saturating_add(u64::from(bb.len))
}

/// Whether every sector of `bb` lies in some range of `set`.
fn covered(bb: &BadBlock, set: &[BadBlock]) -> bool {
    let stop = end(bb);
    let mut at = bb.sector;
    // Each step moves `at` to the end of a range containing it; at most one step per range.
    for _ in 0..=set.len() {
        if at >= stop {
            return true;
        }
        match set.iter().find(|r| r.sector <= at && at < end(r)) {
            Some(r) => at = end(r),
            None => return false,
        }
    }
    at >= stop
}

/// Brings the log of member `index` of `array` in line with `listed`, the text of its
/// `dev-X/bad_blocks` read from offset 0: ranges of the log md no longer lists are cleared
/// (only when `listed` is whole), ranges md lists that the log does not cover are recorded.
pub fn reconcile_bad_blocks<H: MonitorHandler>(
    array: &mut ArrayRecord,
    index: usize,
    listed: &[u8],
    handler: &mut H,
) -> Reconciled {
    if !wants_reconcile(array, index) {
        return Reconciled::Unchanged;
    }
    let Some(slot) = array.members.get(index).map(|m| m.slot) else {
        return Reconciled::Unchanged;
    };
    let kernel = parse_list(listed);
    let mut logged: Vec<BadBlock, MAX_LOGGED_BAD_BLOCKS> = Vec::new();
    if !handler.logged_bad_blocks(array, slot, &mut logged) {
        return Reconciled::Unchanged;
    }
    let mut outcome = Reconciled::Unchanged;
    if kernel.whole {
        for bb in logged.iter().filter(|bb| !covered(bb, &kernel.ranges)) {
            // Partly covered: what md still lists is recorded again below.
            handler.clear_bad_block(array, slot, *bb);
            outcome = Reconciled::Changed;
        }
        if outcome == Reconciled::Changed && !handler.logged_bad_blocks(array, slot, &mut logged) {
            return outcome;
        }
    }
    for bb in kernel.ranges.iter() {
        if covered(bb, &logged) {
            continue;
        }
        if handler.record_bad_block(array, slot, *bb).is_err() {
            return Reconciled::DisableExternalBbl;
        }
        outcome = Reconciled::Changed;
    }
    outcome
}
