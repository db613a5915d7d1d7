//! `cargo xtask crash`: record every write to the members on the real kernel, then replay
//! the log offline to every crash point and check what a power cut there would leave
//! (docs/crash.md).
//!
//! Recording: the rig runs `tests/vm/crash-record.sh`, whose members are slices of one
//! dm-log-writes device, so a single log holds all members' writes in the order they
//! completed. Replay: the member images are rebuilt from zero, write by write; at each
//! crash point the format's loader (our core, the same code the daemon loads with) decodes
//! them and four invariants are checked.

mod ddf;
mod dmlog;
mod imsm;

use crate::rig::{self, Mdmon, RunOptions, Workspace};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Writes in the last 32 MiB of a member are metadata (IMSM and DDF both keep theirs at the
/// end of the disk); the workload's volumes sit in the first 16 MiB.
const META_TAIL: u64 = 32 << 20;
/// Combinations of writes in flight together tried at one write; beyond it, an evenly
/// spread subset (counted in the report as thinned).
const COMBO_LIMIT: u64 = 512;

#[derive(Debug, Clone)]
pub struct Member {
    pub kname: String,
    pub dev: (u32, u32),
    pub bytes: u64,
    /// Logical sector size in bytes (512, or 4096 for the *-4k workloads): the unit the
    /// metadata counts in and the most a cut can leave of a write unwritten or written.
    pub sector: u64,
}

/// What the loader makes of the members' bytes at one crash point.
#[derive(Debug, Default)]
pub struct View {
    /// Why the container does not load (None: it loads).
    pub error: Option<String>,
    /// Generation (IMSM) or header sequence (DDF) of the copy that loaded.
    pub gen: u64,
    pub volumes: Vec<Vol>,
    /// IMSM: the subarrays a family vote over every member whose copy loads would start,
    /// when that differs from this view's (which votes over the members mdadm's assembly
    /// puts in one container: docs/crash.md, "Assembly before the vote"). `--verify`
    /// exports these points, so each is checked with mdadm.
    pub ungrouped: Option<Vec<usize>>,
}

impl View {
    /// The subarrays that can start, in order.
    pub fn starts(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self
            .volumes
            .iter()
            .filter(|v| v.startable)
            .map(|v| v.index)
            .collect();
        s.sort_unstable();
        s
    }
}

#[derive(Debug, Clone)]
pub struct Vol {
    pub name: String,
    /// Its md subarray number (IMSM: position in the MPB; DDF: VD entry).
    pub index: usize,
    /// Sectors from `start` that assembly trusts to match on every member without a resync:
    /// all of them for a clean volume, a rebuild's checkpoint, 0 when a resync will run.
    pub clean_sectors: u64,
    /// Extent on each member, in 512-byte sectors (the same on every member here).
    pub start: u64,
    pub sectors: u64,
    /// Members the metadata lists as in sync (read from, trusted), among those whose own
    /// copy loads.
    pub insync: Vec<usize>,
    /// Members the metadata lists as in sync, whether or not their own copy loads: what the
    /// volume counts as its members when it comes to count (a member whose copy is torn at
    /// that instant, as the C mdmon's multi-write copies can be at a mark, is still one).
    pub listed: Vec<usize>,
    /// Enough in-sync members loaded for mdadm to start it.
    pub startable: bool,
    /// A parity volume (RAID4/5/6) missing a member while a resync is due: md will not start
    /// it without `--force` (the write hole: a stripe written at the cut may hold parity that
    /// matches neither its old nor its new data, and the missing member's blocks are
    /// computed from it). `startable` is false then, and the point counts under the limit
    /// "dirty degraded parity" (docs/crash.md, "Limits of the formats").
    pub write_hole: bool,
    /// A member being rebuilt and how many of its sectors the metadata says are done.
    pub rebuilding: Option<(usize, u64)>,
}

/// One member's own copy, decoded alone.
#[derive(Debug, Clone)]
pub struct Own {
    pub gen: u64,
    /// IMSM family number (0 for DDF).
    pub family: u64,
    /// In-sync members of each volume (by subarray number), as this copy lists them.
    pub insync: Vec<(usize, Vec<usize>)>,
}

pub trait Format {
    fn view(&mut self, images: &[Vec<u8>]) -> View;
    fn own(&mut self, images: &[Vec<u8>], member: usize) -> Option<Own>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// (a) the container loads and every volume can be started.
    Loads,
    /// (b) no volume reads clean while data written after its clean record is on a member.
    CleanAfterData,
    /// (c) no member is trusted beyond what the kernel rebuilt onto it.
    AheadOfKernel,
    /// (d) a failure the kernel was released on is on every member that loads.
    FailureRecorded,
}

impl Invariant {
    fn label(self) -> &'static str {
        match self {
            Invariant::Loads => "(a) loads",
            Invariant::CleanAfterData => "(b) clean",
            Invariant::AheadOfKernel => "(c) rebuilt",
            Invariant::FailureRecorded => "(d) failure",
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub entries: usize,
    pub meta_writes: usize,
    pub data_writes: usize,
    pub points: u64,
    /// Metadata writes carrying FUA, and cache flushes (each flushes the writes before it).
    pub fua_meta: usize,
    pub flushes: usize,
    /// Writes whose issue and completion times the trace gave.
    pub timed: usize,
    /// Writes at which the combinations of writes in flight were thinned (COMBO_LIMIT).
    pub thinned: usize,
    pub loaded: u64,
    pub violations: BTreeMap<Invariant, u64>,
    /// Points that break an invariant in a way no write order can avoid, in both daemons
    /// (docs/crash.md, "Limits of the formats"), by kind.
    pub limits: BTreeMap<&'static str, u64>,
    pub examples: Vec<String>,
    pub marks: Vec<(String, usize)>,
    /// What the loader made of the volumes where they came to count and at the end of the
    /// log: evidence that the workload did what it says (a rebuilt spare in sync, say).
    pub states: Vec<String>,
    /// The decoded state at the point being checked (`CRASH_DEBUG=1`).
    debug: String,
    /// Points kept for a check with real mdadm (`--verify`).
    pub exports: Vec<Export>,
    /// Points of each export kind seen so far (sampled: every point), and the strides
    /// each kind is kept at.
    export_seen: [u64; 3],
    export_stride: [u64; 3],
}

/// Why a point is exported for `--verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// It broke an invariant or hit a named limit.
    Flagged,
    /// The vote over mdadm's assembly group starts other volumes than a vote over every
    /// loaded copy would (`View::ungrouped`).
    Regrouped,
    /// One point in 61 of the rest.
    Sampled,
}

impl ExportKind {
    fn label(self) -> &'static str {
        match self {
            ExportKind::Flagged => "flagged",
            ExportKind::Regrouped => "regrouped",
            ExportKind::Sampled => "sampled",
        }
    }
}

/// One crash point as the members' metadata tails, and what our loader made of it.
#[derive(Debug, Clone)]
pub struct Export {
    pub what: String,
    pub kind: ExportKind,
    /// Its number among the points of its kind: what the thinning keeps by.
    seq: u64,
    /// Each member's last `META_TAIL` bytes (where IMSM and DDF keep their metadata), as
    /// runs of non-zero 4 KiB blocks: (offset in the tail, bytes). A DDF region spans the
    /// whole 32 MiB; what it holds is a few hundred KiB.
    pub tails: Vec<Vec<(usize, Vec<u8>)>>,
    /// The subarrays our loader says can start (none when the container does not load).
    pub starts: Vec<usize>,
    /// Those a vote over every loaded copy would start, where that differs.
    pub ungrouped: Option<Vec<usize>>,
}

/// The unit in which an exported tail keeps non-zero bytes.
const EXPORT_BLOCK: usize = 4096;

/// The non-zero runs of `tail`, in `EXPORT_BLOCK` units.
fn nonzero_runs(tail: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut runs: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, b) in tail.chunks(EXPORT_BLOCK).enumerate() {
        if b.iter().all(|x| *x == 0) {
            continue;
        }
        let at = i * EXPORT_BLOCK;
        match runs.last_mut() {
            Some((s, bytes)) if *s + bytes.len() == at => bytes.extend_from_slice(b),
            _ => runs.push((at, b.to_vec())),
        }
    }
    runs
}
/// Exported points of each kind at most (flagged, regrouped, sampled), and the stride each
/// starts at.
const EXPORT_CAP: [usize; 3] = [24, 24, 12];
const EXPORT_FIRST_STRIDE: [u64; 3] = [1, 1, 61];

impl Report {
    pub fn total_violations(&self) -> u64 {
        self.violations.values().sum()
    }
    fn limit(&mut self, kind: &'static str, text: String) {
        let n = self.limits.entry(kind).or_default();
        *n += 1;
        if *n <= 2 {
            self.examples.push(format!("limit ({kind}): {text}"));
        }
    }

    fn violation(&mut self, inv: Invariant, text: String) {
        // CRASH_DEBUG=1: every violation on stderr, with the decoded state for the first two
        // of each invariant.
        if std::env::var_os("CRASH_DEBUG").is_some() {
            if self.violations.get(&inv).copied().unwrap_or(0) < 2 {
                eprintln!("{}: {text}\n{}", inv.label(), self.debug);
            } else {
                eprintln!("{}: {text}", inv.label());
            }
        }
        *self.violations.entry(inv).or_default() += 1;
        if self
            .examples
            .iter()
            .filter(|e| e.starts_with(inv.label()))
            .count()
            < 3
        {
            self.examples.push(format!("{}: {text}", inv.label()));
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct DataWrite {
    pos: usize,
    member: usize,
    sector: u64,
    sectors: u64,
}

/// Sectors of one member that data writes have covered (merged, sorted).
#[derive(Debug, Default, Clone)]
struct Coverage(Vec<(u64, u64)>);

impl Coverage {
    fn add(&mut self, a: u64, b: u64) {
        self.0.push((a, b));
        self.0.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for &(s, e) in &self.0 {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        self.0 = out;
    }
    fn covers(&self, a: u64, b: u64) -> bool {
        a >= b || self.0.iter().any(|&(s, e)| s <= a && b <= e)
    }
}

fn hash(bytes: &[u8]) -> u64 {
    // FNV-1a: enough to tell random 4 KiB blocks apart.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// One write, placed on its member.
#[derive(Debug, Clone)]
struct Placed {
    pos: usize,
    member: usize,
    /// Byte offset on the member.
    offset: u64,
    /// Byte offset on the logged device (all members end to end).
    offset_in_log: u64,
    bytes: std::ops::Range<usize>,
    meta: bool,
    /// When the write was issued and when it completed (blktrace, nanoseconds), if known.
    issued: Option<u64>,
    completed: Option<u64>,
}

struct Replay<'a, F: Format> {
    fmt: F,
    log: &'a [u8],
    images: Vec<Vec<u8>>,
    last_meta: Vec<Option<usize>>,
    data: Vec<DataWrite>,
    coverage: Vec<Coverage>,
    /// Volumes the workload has created so far, by subarray number (a rename keeps it):
    /// their in-sync members at the mark that made them count ("created", or
    /// "created-NAME" for one made later while others run).
    initial: Option<BTreeMap<usize, Vec<usize>>>,
    /// The members' logical sector size in bytes.
    ss: usize,
    /// The failed member and the log position of the first write the kernel could only
    /// have made after mdmon released it.
    failure: Option<(usize, usize)>,
    report: Report,
    /// Decoding is the slow part, and most points only add data: each member's metadata
    /// bytes carry an id that changes with every metadata write applied (and comes back
    /// when the write is taken back), and decoded results are kept by id.
    meta_id: Vec<u64>,
    next_id: u64,
    views: HashMap<Vec<u64>, Rc<View>>,
    /// The point being checked cuts a write of a member that was the only in-sync member
    /// of some volume just before it.
    torn_sole: bool,
    /// The members that alone held some volume in the last state before a write that
    /// loaded.
    last_sole: Vec<usize>,
    /// Keep points for `--verify`.
    export: bool,
    owns: HashMap<(usize, u64), Option<Own>>,
}

impl<'a, F: Format> Replay<'a, F> {
    fn apply(&mut self, w: &Placed, len: usize) {
        let src = &self.log[w.bytes.start..w.bytes.start + len];
        let img = &mut self.images[w.member];
        let at = w.offset as usize;
        img[at..at + len].copy_from_slice(src);
        if w.meta && len > 0 {
            self.next_id += 1;
            self.meta_id[w.member] = self.next_id;
        }
    }

    /// The decoded state of the members as they are now (cached by metadata ids).
    fn view_now(&mut self) -> Rc<View> {
        match self.views.get(&self.meta_id) {
            Some(v) => v.clone(),
            None => {
                let v = Rc::new(self.fmt.view(&self.images));
                self.views.insert(self.meta_id.clone(), v.clone());
                v
            }
        }
    }

    fn point(&mut self, applied_upto: usize, last_meta: &[Option<usize>], what: &str) {
        self.report.points += 1;
        let view = self.view_now();
        let mut owns: Vec<Option<Own>> = Vec::with_capacity(self.images.len());
        for m in 0..self.images.len() {
            let key = (m, self.meta_id[m]);
            if !self.owns.contains_key(&key) {
                let own = self.fmt.own(&self.images, m);
                self.owns.insert(key, own);
            }
            owns.push(self.owns[&key].clone());
        }
        if std::env::var_os("CRASH_DEBUG").is_some() {
            self.report.debug = format!("  view {view:?}\n  owns {owns:?}");
        }
        let flags = |r: &Report| (r.total_violations(), r.limits.values().sum::<u64>());
        let before = flags(&self.report);
        self.check(&view, &owns, last_meta, applied_upto, what);
        if self.export {
            let kind = if view.ungrouped.is_some() {
                ExportKind::Regrouped
            } else if flags(&self.report) != before {
                ExportKind::Flagged
            } else {
                ExportKind::Sampled
            };
            let k = kind as usize;
            let r = &mut self.report;
            // Every flagged and regrouped point and one in 61 of the others, each kind
            // thinned to its cap by doubling its stride (keeping every other one kept), so
            // the points kept spread over the whole log rather than fill up at its start.
            r.export_seen[k] += 1;
            let seq = r.export_seen[k];
            if r.export_stride[k] == 0 {
                r.export_stride[k] = EXPORT_FIRST_STRIDE[k];
            }
            if seq % r.export_stride[k] == 0 {
                r.exports.push(Export {
                    what: format!("{} {what}", kind.label()),
                    kind,
                    seq,
                    tails: self
                        .images
                        .iter()
                        .map(|i| nonzero_runs(&i[i.len().saturating_sub(META_TAIL as usize)..]))
                        .collect(),
                    starts: view.starts(),
                    ungrouped: view.ungrouped.clone(),
                });
                while r.exports.iter().filter(|e| e.kind == kind).count() > EXPORT_CAP[k] {
                    r.export_stride[k] *= 2;
                    let stride = r.export_stride[k];
                    r.exports.retain(|e| e.kind != kind || e.seq % stride == 0);
                }
            }
        }
    }

    fn check(
        &mut self,
        view: &View,
        owns: &[Option<Own>],
        last_meta: &[Option<usize>],
        applied_upto: usize,
        what: &str,
    ) {
        if let Some(e) = &view.error {
            let mut families: Vec<u64> = owns.iter().flatten().map(|o| o.family).collect();
            families.sort_unstable();
            families.dedup();
            let text = format!("{what}: does not load: {e}");
            if self.torn_sole {
                self.report.limit("sole copy torn", text);
            } else if e.contains("NoChampion") && families.len() > 1 {
                self.report.limit("family change", text);
            } else {
                self.report.violation(Invariant::Loads, text);
            }
            return;
        }
        self.report.loaded += 1;
        // A newer copy of another family is present, yet the family vote went to the older
        // one (a failed member's copy, which nobody updates after the failure).
        let stale_family = owns.iter().flatten().any(|o| {
            o.gen > view.gen
                && owns
                    .iter()
                    .flatten()
                    .any(|p| p.gen == view.gen && p.family != o.family)
        });
        // Every volume the workload created is still there: copies that load but no longer
        // describe it (a spare's record alone, say) start nothing.
        let missing: Vec<usize> = self
            .initial
            .as_ref()
            .map(|i| {
                i.keys()
                    .filter(|n| !view.volumes.iter().any(|v| v.index == **n))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        for index in missing {
            let text = format!("{what}: subarray {index} is described by no copy that loads");
            if self.torn_sole {
                self.report.limit("sole copy torn", text);
            } else {
                self.report.violation(Invariant::Loads, text);
            }
        }
        for v in &view.volumes {
            if v.write_hole {
                self.report.limit(
                    "dirty degraded parity",
                    format!(
                        "{what}: {} is degraded and dirty (in sync: {:?}); md starts it only with --force",
                        v.name, v.insync
                    ),
                );
            } else if !v.startable && self.torn_sole {
                self.report.limit(
                    "sole copy torn",
                    format!("{what}: {} cannot be started", v.name),
                );
            } else if !v.startable {
                self.report.violation(
                    Invariant::Loads,
                    format!(
                        "{what}: {} cannot be started (in sync: {:?})",
                        v.name, v.insync
                    ),
                );
            }
            if v.clean_sectors > 0 {
                // The clean record: the earliest write among the members holding the copy
                // that loaded (a later data write on any member it trusts was never covered
                // by a dirty record that survives).
                let clean_at = owns
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.as_ref().is_some_and(|o| o.gen == view.gen))
                    .filter_map(|(m, _)| last_meta[m])
                    .min();
                if let Some(c) = clean_at {
                    // What assembly trusts on each member: the in-sync ones up to the clean
                    // extent; a member being rebuilt only below its checkpoint (beyond it the
                    // rebuild rewrites everything).
                    let trusted = |m: usize| -> u64 {
                        match v.rebuilding {
                            Some((r, done)) if r == m => done.min(v.clean_sectors),
                            _ if v.insync.contains(&m) => v.clean_sectors,
                            _ => 0,
                        }
                    };
                    if let Some(w) = self.data.iter().find(|w| {
                        w.pos > c
                            && w.sector < v.start + trusted(w.member)
                            && v.start < w.sector + w.sectors
                    }) {
                        self.report.violation(
                            Invariant::CleanAfterData,
                            format!(
                                "{what}: {} reads clean (record at entry {c}) but member {} got data at sector {} in entry {}",
                                v.name, w.member, w.sector, w.pos
                            ),
                        );
                    }
                }
            }
            let added: Vec<usize> = match self.initial.as_ref().and_then(|i| i.get(&v.index)) {
                Some(first) => v
                    .insync
                    .iter()
                    .copied()
                    .filter(|m| !first.contains(m))
                    .collect(),
                None => Vec::new(),
            };
            for m in added {
                if !self.coverage[m].covers(v.start, v.start + v.sectors) {
                    self.report.violation(
                        Invariant::AheadOfKernel,
                        format!(
                            "{what}: member {m} of {} is in sync but was never wholly rebuilt",
                            v.name
                        ),
                    );
                }
            }
            if let Some((m, done)) = v.rebuilding {
                if !self.coverage[m].covers(v.start, v.start + done.min(v.sectors)) {
                    self.report.violation(
                        Invariant::AheadOfKernel,
                        format!("{what}: {} checkpoint {done} sectors ahead of the rebuild of member {m}", v.name),
                    );
                }
            }
        }
        if let Some((f, released)) = self.failure {
            if applied_upto > released {
                let first = view.volumes.first().map(|v| v.index);
                if let Some(v) = view.volumes.first() {
                    let first = &v.name;
                    if v.insync.contains(&f) && self.torn_sole {
                        self.report.limit(
                            "sole copy torn",
                            format!("{what}: failed member {f} still in sync in {first}"),
                        );
                    } else if v.insync.contains(&f) && stale_family {
                        self.report.limit(
                            "failed member's family wins",
                            format!("{what}: failed member {f} still in sync in {first}"),
                        );
                    } else if v.insync.contains(&f) {
                        self.report.violation(
                            Invariant::FailureRecorded,
                            format!("{what}: failed member {f} still in sync in {first} (released at entry {released})"),
                        );
                    }
                }
                for (m, own) in owns.iter().enumerate() {
                    let Some(own) = own else { continue };
                    if m == f {
                        continue;
                    }
                    if own
                        .insync
                        .iter()
                        .any(|(index, ins)| Some(*index) == first && ins.contains(&f))
                    {
                        self.report.violation(
                            Invariant::FailureRecorded,
                            format!("{what}: member {m}'s copy still lists failed member {f} in subarray {}", first.unwrap_or_default()),
                        );
                    }
                }
            }
        }
    }

    /// Every crash point inside one run of metadata writes (no data write between them).
    /// At each write: everything before it in the log stands; the write itself is missing
    /// or cut after any whole sector (only a sector is atomic); and any later writes to
    /// other members that were issued before it completed (so were in flight with it: the
    /// trace says which) may have landed too, each member's in its own order, the last one
    /// possibly cut as well. Without a trace, writes are taken as one after another.
    fn group(&mut self, group: &[Placed]) {
        let ss = self.ss;
        for k in 0..group.len() {
            let w = group[k].clone();
            let here = w.pos;
            let sectors = w.bytes.len() / ss;
            let last_meta = self.last_meta.clone();
            // Per other member: its writes in flight with `w`, in order.
            let mut with: Vec<Vec<Placed>> = vec![Vec::new(); self.images.len()];
            if let Some(done) = w.completed {
                for o in &group[k + 1..] {
                    if o.member != w.member && o.issued.is_some_and(|q| q < done) {
                        with[o.member].push(o.clone());
                    }
                }
            }
            // Options per member: (whole writes, sectors of the next one).
            let options: Vec<Vec<(usize, usize)>> = with
                .iter()
                .map(|ws| {
                    let mut o = vec![(0, 0)];
                    for (i, x) in ws.iter().enumerate() {
                        for t in self.cuts(x) {
                            o.push((i, t));
                        }
                        o.push((i + 1, 0));
                    }
                    o
                })
                .collect();
            let mut own_cuts = vec![0];
            own_cuts.extend(self.cuts(&w));
            // Members that alone hold some volume just before this write.
            let before = self.view_now();
            // When the state before it does not load (between the members' writes of a
            // family change), the last state that did says which members alone hold a
            // volume: no write in between made another member in sync.
            let sole: Vec<usize> = if before.error.is_none() {
                let sole: Vec<usize> = before
                    .volumes
                    .iter()
                    .filter(|v| v.insync.len() == 1)
                    .map(|v| v.insync[0])
                    .collect();
                self.last_sole = sole.clone();
                sole
            } else {
                self.last_sole.clone()
            };
            let combos: u64 = options.iter().map(|o| o.len() as u64).product();
            let stride = (combos / COMBO_LIMIT).max(1);
            if stride > 1 {
                self.report.thinned += 1;
            }
            let mut n = 0u64;
            while n < combos {
                let mut rest = n;
                let mut pieces: Vec<(Placed, usize)> = Vec::new();
                let mut desc = Vec::new();
                let mut torn_members = Vec::new();
                for (m, o) in options.iter().enumerate() {
                    let (whole, torn) = o[(rest % o.len() as u64) as usize];
                    rest /= o.len() as u64;
                    for x in with[m].iter().take(whole) {
                        pieces.push((x.clone(), x.bytes.len()));
                    }
                    if torn > 0 {
                        pieces.push((with[m][whole].clone(), torn * ss));
                        torn_members.push(m);
                    }
                    if whole > 0 || torn > 0 {
                        desc.push(format!("m{m}:{whole}+{torn}s"));
                    }
                }
                let upto = pieces
                    .iter()
                    .map(|(x, _)| x.pos + 1)
                    .max()
                    .unwrap_or(here)
                    .max(here);
                for &t in &own_cuts {
                    let mut all: Vec<(&Placed, usize)> =
                        pieces.iter().map(|(x, l)| (x, *l)).collect();
                    all.push((&w, t * ss));
                    let what = if desc.is_empty() {
                        format!("entry {here}: {t}/{sectors} sectors")
                    } else {
                        format!(
                            "entry {here}: {t}/{sectors} sectors, in flight beside it: {}",
                            desc.join(" ")
                        )
                    };
                    self.torn_sole = (t > 0 && sole.contains(&w.member))
                        || torn_members.iter().any(|m| sole.contains(m));
                    self.with_applied(&all, &last_meta, upto, &what);
                    self.torn_sole = false;
                }
                n += stride;
            }
            self.apply(&w, w.bytes.len());
            self.last_meta[w.member] = Some(w.pos);
        }
        let last_meta = self.last_meta.clone();
        let end = group.last().map_or(0, |w| w.pos + 1);
        self.point(
            end,
            &last_meta,
            &format!("after entry {}", end.saturating_sub(1)),
        );
    }

    /// Where a write can be cut to give a state of its own: after each sector whose new
    /// bytes differ from what the member holds (cutting after an unchanged sector leaves
    /// the same bytes as cutting before it). Measured against the member as it is now, so
    /// for a write that follows another of the same member in flight this is close, not
    /// exact.
    fn cuts(&self, w: &Placed) -> Vec<usize> {
        let ss = self.ss;
        let new = &self.log[w.bytes.clone()];
        let at = w.offset as usize;
        let old = &self.images[w.member][at..at + new.len()];
        (1..new.len() / ss)
            .filter(|t| new[(t - 1) * ss..t * ss] != old[(t - 1) * ss..t * ss])
            .collect()
    }

    /// Checks the point where `pieces` (write, bytes of it) are applied on top of what is,
    /// then takes them back.
    fn with_applied(
        &mut self,
        pieces: &[(&Placed, usize)],
        last_meta: &[Option<usize>],
        upto: usize,
        what: &str,
    ) {
        let mut undo: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        let ids = self.meta_id.clone();
        let mut lm = last_meta.to_vec();
        for (w, len) in pieces {
            if *len == 0 {
                continue;
            }
            let at = w.offset as usize;
            undo.push((w.member, at, self.images[w.member][at..at + len].to_vec()));
            self.apply(w, *len);
            lm[w.member] = Some(w.pos);
        }
        self.point(upto, &lm, what);
        for (m, at, old) in undo.into_iter().rev() {
            self.images[m][at..at + old.len()].copy_from_slice(&old);
        }
        self.meta_id = ids;
    }
}

/// The failed member ("failing-N" mark, set just before it was failed) and the first data
/// write on another member that has no twin on the failed one: the kernel issued it after
/// the failure, so only once mdmon had recorded the failure and released it.
fn release_point(
    placed: &[Placed],
    marks: &[(String, usize)],
    log: &[u8],
) -> Option<(usize, usize)> {
    let (name, at) = marks.iter().find(|(n, _)| n.starts_with("failing-"))?;
    let f: usize = name.strip_prefix("failing-")?.parse().ok()?;
    let after: Vec<&Placed> = placed.iter().filter(|w| !w.meta && w.pos > *at).collect();
    let twins: std::collections::HashSet<(u64, u64)> = after
        .iter()
        .filter(|w| w.member == f)
        .map(|w| (w.offset, hash(&log[w.bytes.clone()])))
        .collect();
    after
        .iter()
        .find(|w| w.member != f && !twins.contains(&(w.offset, hash(&log[w.bytes.clone()]))))
        .map(|w| (f, w.pos))
}

/// Replays `log` (the log disk's bytes) over `members` and checks every crash point.
pub fn replay<F: Format>(
    fmt: F,
    members: &[Member],
    log_bytes: &[u8],
    trace: &str,
    export: bool,
) -> Result<Report, String> {
    let log = dmlog::parse(log_bytes)?;
    // dm-log-writes adds this mark when the target is removed: without it the log is
    // incomplete (the log device filled up, or the recording stopped early).
    if !log
        .entries
        .iter()
        .any(|e| e.mark.as_deref() == Some("dm-log-writes-end"))
    {
        return Err(format!(
            "the log has no end mark after {} entries: the log device was full or the recording stopped early",
            log.entries.len()
        ));
    }
    let member_bytes = members.first().ok_or("no members")?.bytes;
    let ss = members[0].sector as usize;
    if members.iter().any(|m| m.bytes != member_bytes) {
        return Err("members of different sizes".into());
    }
    let mut placed = Vec::new();
    let mut marks = Vec::new();
    for (pos, e) in log.entries.iter().enumerate() {
        if let Some(m) = &e.mark {
            marks.push((m.clone(), pos));
        }
        if e.data.is_empty() {
            continue;
        }
        let off = e.sector * log.sector_size;
        let member = (off / member_bytes) as usize;
        let offset = off % member_bytes;
        if member >= members.len() || offset + e.data.len() as u64 > member_bytes {
            return Err(format!(
                "entry {pos}: write at byte {off} crosses or leaves the members"
            ));
        }
        placed.push(Placed {
            pos,
            member,
            offset,
            offset_in_log: off,
            bytes: e.data.clone(),
            meta: offset >= member_bytes.saturating_sub(META_TAIL),
            issued: None,
            completed: None,
        });
    }
    let timed = time_writes(&mut placed, trace);
    let failure = release_point(&placed, &marks, log_bytes);
    let mut r = Replay {
        fmt,
        log: log_bytes,
        images: vec![vec![0u8; member_bytes as usize]; members.len()],
        last_meta: vec![None; members.len()],
        data: Vec::new(),
        coverage: vec![Coverage::default(); members.len()],
        initial: None,
        ss,
        failure,
        meta_id: vec![0; members.len()],
        next_id: 0,
        views: HashMap::new(),
        torn_sole: false,
        last_sole: Vec::new(),
        export,
        owns: HashMap::new(),
        report: Report {
            entries: log.entries.len(),
            meta_writes: placed.iter().filter(|w| w.meta).count(),
            data_writes: placed.iter().filter(|w| !w.meta).count(),
            fua_meta: placed
                .iter()
                .filter(|w| w.meta && log.entries[w.pos].flags & dmlog::FUA != 0)
                .count(),
            flushes: log
                .entries
                .iter()
                .filter(|e| e.flags & dmlog::FLUSH != 0)
                .count(),
            timed,
            marks: marks.clone(),
            ..Report::default()
        },
    };
    let created = marks.iter().find(|(n, _)| n == "created").map(|(_, p)| *p);
    // Where volumes start to count as created: "created" for those the workload begins
    // with, "created-NAME" for one created later (its create is checked point by point,
    // but only from its mark on must it load and start).
    let mut made: Vec<usize> = marks
        .iter()
        .filter(|(n, _)| n == "created" || n.starts_with("created-"))
        .map(|(_, p)| *p)
        .collect();
    made.reverse();
    // Before "created" mdadm is still building the container: no volume exists to protect,
    // and mdadm itself writes each disk in turn. Those writes are applied, not checked, and
    // in the order they completed when the trace gives it: the log puts a write without
    // FUA (mdadm's) at the next flush, after a daemon's FUA write to the same sectors that
    // completed later, and replaying that order would leave mdadm's older copy on top (the
    // "created" mark's flush is where all of them are logged).
    let before = placed
        .iter()
        .take_while(|w| created.is_none_or(|c| w.pos < c))
        .count();
    let mut setup: Vec<Placed> = placed[..before].to_vec();
    if setup.iter().all(|w| w.completed.is_some()) {
        setup.sort_by_key(|w| w.completed);
    }
    for w in &setup {
        r.apply(w, w.bytes.len());
        if w.meta {
            r.last_meta[w.member] = r.last_meta[w.member].max(Some(w.pos));
        } else {
            r.note_data(w);
        }
    }
    let mut i = before;
    while i < placed.len() {
        let w = placed[i].clone();
        while made.last().is_some_and(|m| *m < w.pos) {
            let at = made.pop().unwrap_or_default();
            let view = r.fmt.view(&r.images);
            r.report
                .states
                .push(format!("at entry {at}: {}", describe(&view)));
            let known = r.initial.get_or_insert_with(BTreeMap::new);
            for v in &view.volumes {
                known.entry(v.index).or_insert_with(|| v.listed.clone());
            }
        }
        if w.meta {
            let mut j = i;
            // A run of metadata writes ends at a volume's "created" mark: from there on the
            // volume counts.
            while j < placed.len()
                && placed[j].meta
                && made.last().is_none_or(|m| *m >= placed[j].pos)
            {
                j += 1;
            }
            let group: Vec<Placed> = placed[i..j].to_vec();
            r.group(&group);
            i = j;
        } else {
            r.apply(&w, w.bytes.len());
            r.note_data(&w);
            let last_meta = r.last_meta.clone();
            r.point(
                w.pos + 1,
                &last_meta,
                &format!("after data entry {}", w.pos),
            );
            i += 1;
        }
    }
    let view = r.fmt.view(&r.images);
    r.report
        .states
        .push(format!("at the end: {}", describe(&view)));
    Ok(r.report)
}

/// A view in a few words: each volume's name, subarray, in-sync members and clean extent.
fn describe(view: &View) -> String {
    if let Some(e) = &view.error {
        return format!("does not load ({e})");
    }
    let vols: Vec<String> = view
        .volumes
        .iter()
        .map(|v| {
            format!(
                "{}[{}] in sync {:?}, {} of {} sectors clean",
                v.name, v.index, v.insync, v.clean_sectors, v.sectors
            )
        })
        .collect();
    format!("gen {}: {}", view.gen, vols.join("; "))
}

impl<F: Format> Replay<'_, F> {
    fn note_data(&mut self, w: &Placed) {
        let sector = w.offset / 512;
        let sectors = w.bytes.len() as u64 / 512;
        self.data.push(DataWrite {
            pos: w.pos,
            member: w.member,
            sector,
            sectors,
        });
        self.coverage[w.member].add(sector, sector + sectors);
    }
}

/// Gives each write its issue (Q) and completion (C) time from blkparse lines
/// (`action rwbs sector sectors seconds.nanoseconds`, on the log-writes device, whose
/// sectors are the log's). Writes to the same place pair up in order. Returns how many
/// writes got both times.
fn time_writes(placed: &mut [Placed], trace: &str) -> usize {
    use std::collections::VecDeque;
    let mut queued: HashMap<(u64, u64), VecDeque<u64>> = HashMap::new();
    let mut done: HashMap<(u64, u64), VecDeque<u64>> = HashMap::new();
    for line in trace.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [action, rwbs, sector, n, time] = f.as_slice() else {
            continue;
        };
        if !rwbs.contains('W') {
            continue;
        }
        let (Ok(sector), Ok(n)) = (sector.parse::<u64>(), n.parse::<u64>()) else {
            continue;
        };
        let Some((secs, nanos)) = time.split_once('.') else {
            continue;
        };
        let (Ok(secs), Ok(nanos)) = (secs.parse::<u64>(), nanos.parse::<u64>()) else {
            continue;
        };
        let t = secs * 1_000_000_000 + nanos;
        match *action {
            "Q" => queued.entry((sector, n)).or_default().push_back(t),
            "C" => done.entry((sector, n)).or_default().push_back(t),
            _ => {}
        }
    }
    let mut timed = 0;
    // `placed` is in log order; writes to one place complete in the order they were issued.
    for w in placed.iter_mut() {
        let key = (w.offset_in_log / 512, w.bytes.len() as u64 / 512);
        w.issued = queued.get_mut(&key).and_then(VecDeque::pop_front);
        w.completed = done.get_mut(&key).and_then(VecDeque::pop_front);
        if w.issued.is_some() && w.completed.is_some() {
            timed += 1;
        }
    }
    timed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Ours,
    Original,
    /// Ours built with `crash-mutant`: a write order the checks must catch.
    Mutant,
}

impl Daemon {
    fn tag(self) -> &'static str {
        match self {
            Daemon::Ours => "ours",
            Daemon::Original => "original",
            Daemon::Mutant => "mutant",
        }
    }
}

/// Our mdmon built with the `crash-mutant` feature, in its own target directory.
fn mutant_build(ws: &Workspace) -> Result<PathBuf, String> {
    let target = "x86_64-unknown-linux-musl";
    let dir = ws.root.join("target/crash-mutant");
    let ok = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "mdmon", "--target", target])
        .args(["--features", "crash-mutant", "--target-dir"])
        .arg(&dir)
        .env("MDMON_CRASH_MUTANT", "1")
        .current_dir(&ws.root)
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if !ok {
        return Err("cargo build of the crash mutant failed".into());
    }
    Ok(dir.join(target).join("release/mdmon"))
}

/// Assembles the points `report` exported with real mdadm in the rig (`crash-verify.sh`)
/// and compares which volumes start with what our loader said. Errors if they disagree.
fn verify_points(
    ws: &Workspace,
    image: &rig::GuestImage,
    dir: &Path,
    report: &Report,
) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let (members, _) = read_members(dir)?;
    let mb = members[0].bytes;
    let n = members.len() as u64;
    let points = dir.join("points.img");
    let f = fs::File::create(&points).map_err(|e| format!("{}: {e}", points.display()))?;
    f.set_len(report.exports.len() as u64 * n * mb)
        .map_err(|e| e.to_string())?;
    for (p, e) in report.exports.iter().enumerate() {
        for (i, runs) in e.tails.iter().enumerate() {
            let tail = (p as u64 * n + i as u64) * mb + mb - META_TAIL.min(mb);
            for (off, bytes) in runs {
                f.write_all_at(bytes, tail + *off as u64)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    drop(f);
    let mut spec = rig::list_scenarios(ws)?
        .into_iter()
        .find(|s| s.name == "crash-verify")
        .ok_or("tests/vm/crash-verify.sh is missing")?;
    // The points' members on disks of the sector size they were recorded on.
    if members[0].sector != 512 {
        spec.sector = Some(members[0].sector as u32);
    }
    let opts = RunOptions {
        mdmon: Mdmon::Original,
        our_mdmon: None,
        keep: false,
        quiet: true,
        extra_env: vec![
            ("RIG_PREPARED_DISK0".into(), points.display().to_string()),
            ("CRASH_POINTS".into(), report.exports.len().to_string()),
            ("CRASH_MEMBER_SECTORS".into(), (mb / 512).to_string()),
        ],
        client: None,
    };
    eprintln!(
        "crash: assembling {} points with mdadm",
        report.exports.len()
    );
    let run = rig::run_scenario(ws, image, &spec, &opts)?;
    if !run.ok {
        return Err(format!(
            "crash-verify failed (console in {})",
            run.dir.display()
        ));
    }
    let text = fs::read_to_string(run.dir.join("out/verify.txt")).unwrap_or_default();
    // Subarrays mdadm started (array_state other than inactive), per point.
    let mut started: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let ["point", p, "sub", sub, "state", state, ..] = f.as_slice() {
            if *state != "inactive" {
                if let (Ok(p), Ok(sub)) = (p.parse(), sub.parse()) {
                    started.entry(p).or_default().push(sub);
                }
            }
        }
    }
    let mut disagree = Vec::new();
    // Points where a vote over every loaded copy (without mdadm's grouping) would agree.
    let mut ungrouped_agree = 0;
    for (p, e) in report.exports.iter().enumerate() {
        let mut theirs = started.get(&p).cloned().unwrap_or_default();
        theirs.sort_unstable();
        let agree = e.starts == theirs;
        let all = e.ungrouped.as_ref().unwrap_or(&e.starts);
        ungrouped_agree += usize::from(*all == theirs);
        let alt = match &e.ungrouped {
            Some(u) => format!(" (a vote over every copy: {u:?})"),
            None => String::new(),
        };
        println!(
            "verify point {p:>2}: ours start {:?}{alt}, mdadm started {theirs:?}{}  [{}]",
            e.starts,
            if agree { "" } else { "  DISAGREE" },
            e.what
        );
        if !agree {
            disagree.push((p, e.kind));
        }
    }
    let kinds = [
        ExportKind::Flagged,
        ExportKind::Regrouped,
        ExportKind::Sampled,
    ];
    let counts: Vec<String> = kinds
        .iter()
        .map(|k| {
            let n = report.exports.iter().filter(|e| e.kind == *k).count();
            let bad: Vec<usize> = disagree.iter().filter(|d| d.1 == *k).map(|d| d.0).collect();
            format!("{} {}/{n} agree {bad:?}", k.label(), n - bad.len())
        })
        .collect();
    println!(
        "verify: {} points, {} agree with mdadm ({}); a vote over every loaded copy would agree at {ungrouped_agree}",
        report.exports.len(),
        report.exports.len() - disagree.len(),
        counts.join(", ")
    );
    // Every kind must agree: the replay models mdadm's assembly before its vote
    // (docs/crash.md, "Checked with mdadm").
    if disagree.is_empty() {
        Ok(())
    } else {
        let at: Vec<String> = disagree
            .iter()
            .map(|(p, k)| format!("{p} ({})", k.label()))
            .collect();
        Err(format!(
            "our loader and mdadm disagree at points {}",
            at.join(", ")
        ))
    }
}

/// The members the guest recorded (`out/crash-members.txt`) and the workload's name.
fn read_members(dir: &Path) -> Result<(Vec<Member>, String), String> {
    let path = dir.join("out/crash-members.txt");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut members = Vec::new();
    let mut workload = String::new();
    // Recordings from before the sector line: 512-byte sectors.
    let mut sector = 512;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["member", _, kname, dev, sectors] => {
                let (a, b) = dev.split_once(':').ok_or("bad device number")?;
                members.push(Member {
                    kname: kname.to_string(),
                    dev: (
                        a.parse().map_err(|_| "bad major")?,
                        b.parse().map_err(|_| "bad minor")?,
                    ),
                    bytes: sectors.parse::<u64>().map_err(|_| "bad size")? * 512,
                    sector: 512,
                });
            }
            ["workload", w] => workload = w.to_string(),
            ["sector", n] => sector = n.parse().map_err(|_| "bad sector size")?,
            _ => {}
        }
    }
    if members.is_empty() {
        return Err(format!("{}: no members", path.display()));
    }
    for m in members.iter_mut() {
        m.sector = sector;
    }
    Ok((members, workload))
}

/// Replays a kept recording (a rig run directory).
pub fn replay_dir(dir: &Path, export: bool) -> Result<(String, Report), String> {
    let (members, workload) = read_members(dir)?;
    let log_path = dir.join(format!("disk{}.img", members.len()));
    let log = fs::read(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let trace = fs::read_to_string(dir.join("out/crash-trace.txt")).unwrap_or_default();
    let report = if workload.starts_with("ddf") {
        replay(ddf::Ddf::new(&members), &members, &log, &trace, export)?
    } else {
        replay(imsm::Imsm::new(&members), &members, &log, &trace, export)?
    };
    Ok((workload, report))
}

fn row(workload: &str, daemon: &str, r: &Report) -> String {
    let v = |i| r.violations.get(&i).copied().unwrap_or(0);
    format!(
        "{workload:<8} {daemon:<9} {:>7} {:>6} {:>6} {:>8} {:>8} {:>9} {:>9} {:>10} {:>10}",
        r.entries,
        r.meta_writes,
        r.data_writes,
        r.points,
        r.loaded,
        v(Invariant::Loads),
        v(Invariant::CleanAfterData),
        v(Invariant::AheadOfKernel),
        v(Invariant::FailureRecorded),
    )
}

const HEADER: &str = "workload daemon    entries   meta   data   points   loaded (a)loads (b)clean (c)rebuilt (d)failure";

pub const USAGE: &str =
    "crash [--workload W]... [--mdmon ours|original|both] [--replay DIR] [--keep]";

pub fn cmd(args: &[String]) -> rig::Result<()> {
    let mut workloads: Vec<String> = Vec::new();
    let mut daemons = vec![Daemon::Ours, Daemon::Original];
    let mut replay_only: Option<PathBuf> = None;
    let mut keep = false;
    let mut verify = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--workload" => workloads.push(it.next().ok_or("--workload needs a name")?.clone()),
            "--mdmon" => {
                daemons = match it.next().map(String::as_str) {
                    Some("ours") => vec![Daemon::Ours],
                    Some("original") => vec![Daemon::Original],
                    Some("both") => vec![Daemon::Ours, Daemon::Original],
                    other => return Err(format!("--mdmon ours|original|both, not {other:?}")),
                }
            }
            "--replay" => {
                replay_only = Some(PathBuf::from(
                    it.next().ok_or("--replay needs a directory")?,
                ))
            }
            "--keep" => keep = true,
            "--mutant" => daemons = vec![Daemon::Mutant],
            "--verify" => verify = true,
            other => {
                return Err(format!(
                    "unknown crash option {other}\nusage: cargo xtask {USAGE}"
                ))
            }
        }
    }
    if let Some(dir) = replay_only {
        let (w, r) = replay_dir(&dir, verify)?;
        let mut outcome = Ok(());
        if verify {
            let ws = Workspace::find()?;
            let image = rig::prepare(&ws)?;
            outcome = verify_points(&ws, &image, &dir, &r);
        }
        print_reports(&[(w, "recorded".to_string(), r)]);
        return outcome;
    }
    if workloads.is_empty() {
        workloads = ["imsm1", "imsm2", "imsm2-4k", "imsm-ops", "ddf2", "ddf5"]
            .map(String::from)
            .to_vec();
    }
    let ws = Workspace::find()?;
    let spec = rig::list_scenarios(&ws)?
        .into_iter()
        .find(|s| s.name == "crash-record")
        .ok_or("tests/vm/crash-record.sh is missing")?;
    let image = rig::prepare(&ws)?;
    let mut reports = Vec::new();
    let mut verified: Vec<Result<(), String>> = Vec::new();
    let ours = if daemons.contains(&Daemon::Ours) {
        Some(crate::dist()?)
    } else {
        None
    };
    let mutant = if daemons.contains(&Daemon::Mutant) {
        Some(mutant_build(&ws)?)
    } else {
        None
    };
    for w in &workloads {
        for &d in &daemons {
            let opts = RunOptions {
                mdmon: if d == Daemon::Original {
                    Mdmon::Original
                } else {
                    Mdmon::Ours
                },
                our_mdmon: match d {
                    Daemon::Ours => ours.clone(),
                    Daemon::Mutant => mutant.clone(),
                    Daemon::Original => None,
                },
                keep: true,
                quiet: true,
                extra_env: vec![("CRASH_WORKLOAD".into(), w.clone())],
                client: None,
            };
            let tag = d.tag();
            // The *-4k workloads run on disks of 4096-byte logical sectors.
            let mut spec = spec.clone();
            if w.ends_with("-4k") {
                spec.sector = Some(4096);
            }
            eprintln!("crash: recording {w} with {tag}");
            let run = rig::run_scenario(&ws, &image, &spec, &opts)?;
            if !run.ok {
                return Err(format!(
                    "crash: recording {w} with {tag} failed (console in {})",
                    run.dir.display()
                ));
            }
            eprintln!("crash: replaying {w} ({tag}) from {}", run.dir.display());
            let (_, r) = replay_dir(&run.dir, verify)?;
            if verify && !r.exports.is_empty() {
                verified.push(
                    verify_points(&ws, &image, &run.dir, &r).map_err(|e| format!("{w} {tag}: {e}")),
                );
            }
            if !keep {
                for i in 0..=spec.disks {
                    let _ = fs::remove_file(run.dir.join(format!("disk{i}.img")));
                }
                let _ = fs::remove_file(run.dir.join("initrd.cpio"));
            }
            reports.push((w.clone(), tag.to_string(), r));
        }
    }
    print_reports(&reports);
    for v in verified {
        v?;
    }
    let bad: Vec<String> = reports
        .iter()
        .filter(|(_, d, r)| d == "ours" && r.total_violations() > 0)
        .map(|(w, _, _)| w.clone())
        .collect();
    if !bad.is_empty() {
        return Err(format!("crash: violations with ours in {bad:?}"));
    }
    let missed: Vec<String> = reports
        .iter()
        .filter(|(_, d, r)| d == "mutant" && r.total_violations() == 0)
        .map(|(w, _, _)| w.clone())
        .collect();
    if !missed.is_empty() {
        return Err(format!("crash: the mutant went uncaught in {missed:?}"));
    }
    Ok(())
}

fn print_reports(reports: &[(String, String, Report)]) {
    println!("\n{HEADER}");
    for (w, d, r) in reports {
        println!("{}", row(w, d, r));
    }
    for (w, d, r) in reports {
        let marks: Vec<String> = r.marks.iter().map(|(n, p)| format!("{n}@{p}")).collect();
        println!(
            "{w} {d}: {} metadata writes with FUA, {} flushes, {} of {} writes timed by the trace, {} thinned; marks {}",
            r.fua_meta,
            r.flushes,
            r.timed,
            r.meta_writes + r.data_writes,
            r.thinned,
            marks.join(" ")
        );
        for st in &r.states {
            println!("{w} {d}: {st}");
        }
        if !r.limits.is_empty() {
            let l: Vec<String> = r.limits.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            println!(
                "{w} {d}: limits of the format (not counted above): {}",
                l.join(", ")
            );
        }
        for e in &r.examples {
            println!("{w} {d}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Volumes as a bit mask in the first byte of member 0; every volume listed starts.
    /// Member 1's copy does not load while its first byte is 0xff: the volumes then list
    /// it, but not among the members in sync whose copy loads.
    struct Mask;

    impl Format for Mask {
        fn view(&mut self, images: &[Vec<u8>]) -> View {
            let mask = images[0][0];
            let torn = images[1][0] == 0xff;
            View {
                error: None,
                gen: 0,
                ungrouped: None,
                volumes: (0..8)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| Vol {
                        name: format!("v{i}"),
                        index: i,
                        clean_sectors: 0,
                        start: 0,
                        sectors: 8,
                        insync: if torn { vec![0] } else { vec![0, 1] },
                        listed: vec![0, 1],
                        startable: true,
                        write_hole: false,
                        rebuilding: None,
                    })
                    .collect(),
            }
        }
        fn own(&mut self, _: &[Vec<u8>], _: usize) -> Option<Own> {
            None
        }
    }

    enum E {
        /// One sector of metadata (the members are smaller than META_TAIL) on member 0.
        Mask(u8),
        Mark(&'static str),
        /// Member 1's first byte.
        Member1(u8),
    }

    /// A dm-log-writes log (512-byte sectors) of `entries`, closed with the end mark.
    fn log(entries: &[E]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut n = 0u64;
        let mut entry = |sector: u64, count: u64, flags: u64, inline: &[u8], data: &[u8]| {
            let mut e = vec![0u8; 512];
            e[..8].copy_from_slice(&sector.to_le_bytes());
            e[8..16].copy_from_slice(&count.to_le_bytes());
            e[16..24].copy_from_slice(&flags.to_le_bytes());
            e[24..32].copy_from_slice(&(inline.len() as u64).to_le_bytes());
            e[32..32 + inline.len()].copy_from_slice(inline);
            body.extend_from_slice(&e);
            body.extend_from_slice(data);
            n += 1;
        };
        for e in entries {
            match e {
                E::Mask(m) => {
                    let mut d = vec![0u8; 512];
                    d[0] = *m;
                    entry(0, 1, dmlog::FUA, &[], &d);
                }
                E::Mark(name) => entry(0, 0, dmlog::MARK, name.as_bytes(), &[]),
                E::Member1(b) => {
                    let mut d = vec![0u8; 512];
                    d[0] = *b;
                    entry(8, 1, dmlog::FUA, &[], &d);
                }
            }
        }
        entry(0, 0, dmlog::MARK, b"dm-log-writes-end", &[]);
        let mut b = vec![0u8; 512];
        b[..8].copy_from_slice(&0x006a_7366_7773_6872u64.to_le_bytes());
        b[8..16].copy_from_slice(&1u64.to_le_bytes());
        b[16..24].copy_from_slice(&n.to_le_bytes());
        b[24..28].copy_from_slice(&512u32.to_le_bytes());
        b.extend_from_slice(&body);
        b
    }

    fn members() -> Vec<Member> {
        (0..2)
            .map(|i| Member {
                kname: format!("dm-{i}"),
                dev: (252, i),
                bytes: 4096,
                sector: 512,
            })
            .collect()
    }

    fn loads_violations(entries: &[E], trace: &str) -> (u64, Report) {
        let r = replay(Mask, &members(), &log(entries), trace, false).unwrap();
        (r.violations.get(&Invariant::Loads).copied().unwrap_or(0), r)
    }

    #[test]
    fn a_volume_created_later_counts_from_its_mark() {
        use E::*;
        // v1 appears after "created", then disappears again.
        let later = [
            Mask(1),
            Mark("created"),
            Mask(3),
            Mark("created-v1"),
            Mask(1),
        ];
        let (n, r) = loads_violations(&later, "");
        assert!(n > 0, "v1 lost after its mark: {:?}", r.states);
        assert!(r.states[1].contains("v1[1]"), "{:?}", r.states);
        // Without its mark v1 never counted: losing it is no violation.
        let unmarked = [Mask(1), Mark("created"), Mask(3), Mask(1)];
        assert_eq!(loads_violations(&unmarked, "").0, 0);
    }

    #[test]
    fn a_member_whose_copy_is_torn_at_the_mark_still_counts() {
        use E::*;
        // At "created" member 1's copy does not load (torn at that instant); once it loads
        // again it is in sync without any rebuild, and that is no rebuild to check.
        let entries = [Mask(1), Member1(0xff), Mark("created"), Member1(0), Mask(1)];
        let r = replay(super::tests::Mask, &members(), &log(&entries), "", false).unwrap();
        assert_eq!(r.total_violations(), 0, "{:?}", r.examples);
    }

    #[test]
    fn setup_writes_are_applied_in_the_order_they_completed() {
        use E::*;
        // The log holds v0+v1 first, then v0 alone; the trace says the v0-alone write
        // completed first (a write without FUA logged at the next flush, after a daemon's
        // later FUA write to the same sector): v0+v1 is what the disk holds at "created",
        // and losing v1 afterwards is a violation.
        let entries = [Mask(3), Mask(1), Mark("created"), Mask(1)];
        let trace = "Q W 0 1 0.000000100\nC W 0 1 0.000000200\n\
                     Q W 0 1 0.000000010\nC W 0 1 0.000000020\n";
        let (n, r) = loads_violations(&entries, trace);
        assert!(r.states[0].contains("v1[1]"), "{:?}", r.states);
        assert!(n > 0, "{:?}", r.examples);
        // In log order (no trace) v0 alone is the state at "created".
        let (n, r) = loads_violations(&entries, "");
        assert!(!r.states[0].contains("v1"), "{:?}", r.states);
        assert_eq!(n, 0);
    }

    #[test]
    fn sampled_exports_spread_over_the_whole_log() {
        use E::*;
        // 1 600 metadata writes after "created", a point each, none flagged.
        let mut entries = vec![Mask(1), Mark("created")];
        for i in 0..1600 {
            entries.push(Mask(if i % 2 == 0 { 1 } else { 0x81 }));
        }
        let r = replay(super::tests::Mask, &members(), &log(&entries), "", true).unwrap();
        let seqs: Vec<u64> = r.exports.iter().map(|e| e.seq).collect();
        assert!(r.points > 1500, "{}", r.points);
        assert!(r.exports.iter().all(|e| e.kind == ExportKind::Sampled));
        // Doubling the stride halves what is kept: between half the cap and the cap.
        assert!(
            seqs.len() * 2 >= EXPORT_CAP[2] && seqs.len() <= EXPORT_CAP[2],
            "{seqs:?}"
        );
        // Kept at one stride, the last one in the log's last quarter.
        let stride = seqs[0];
        assert!(seqs.windows(2).all(|w| w[1] - w[0] == stride), "{seqs:?}");
        assert!(
            seqs[seqs.len() - 1] * 4 > r.points * 3,
            "{seqs:?} of {}",
            r.points
        );
    }
}
