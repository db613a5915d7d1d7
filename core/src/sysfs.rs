//! Parsing the md driver's sysfs text without allocation.
//!
//! The kernel's words are matched the way mdadm matches them (sysfs.c `sysfs_attr_match`):
//! a keyword matches when the text equals it, optionally followed by `,` or `\n` and
//! anything after. Unknown text never panics: it maps to an explicit `Unknown` value, which
//! the decision rules treat exactly as upstream treats its "unknown" index.

use bitflags::bitflags;

/// Sector count meaning "complete / none" (mdadm's `MaxSector`).
pub const MAX_SECTOR: u64 = u64::MAX;

/// `md/array_state`, in the kernel's order: the decision rules compare positions
/// ("≤ inactive", "> readonly"), so the discriminants are part of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ArrayState {
    Clear = 0,
    Inactive = 1,
    Suspended = 2,
    Readonly = 3,
    ReadAuto = 4,
    Clean = 5,
    Active = 6,
    WritePending = 7,
    ActiveIdle = 8,
    Broken = 9,
    /// Unreadable or a word this code does not know.
    Unknown = 10,
}

const ARRAY_STATE_WORDS: [(&[u8], ArrayState); 10] = [
    (b"clear", ArrayState::Clear),
    (b"inactive", ArrayState::Inactive),
    (b"suspended", ArrayState::Suspended),
    (b"readonly", ArrayState::Readonly),
    (b"read-auto", ArrayState::ReadAuto),
    (b"clean", ArrayState::Clean),
    (b"active", ArrayState::Active),
    (b"write-pending", ArrayState::WritePending),
    (b"active-idle", ArrayState::ActiveIdle),
    (b"broken", ArrayState::Broken),
];

impl ArrayState {
    pub fn parse(text: &[u8]) -> Self {
        ARRAY_STATE_WORDS
            .iter()
            .find(|(w, _)| word_matches(text, w))
            .map_or(ArrayState::Unknown, |(_, s)| *s)
    }

    /// The word to write to `array_state` (no newline, as mdmon writes it).
    pub fn word(self) -> &'static [u8] {
        ARRAY_STATE_WORDS
            .iter()
            .find(|(_, s)| *s == self)
            .map_or(b"", |(w, _)| w)
    }
}

/// `md/sync_action`, in mdadm's order (the checkpoint rule compares "≥ reshape").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SyncAction {
    Idle = 0,
    Reshape = 1,
    Resync = 2,
    Recover = 3,
    Check = 4,
    Repair = 5,
    /// Unreadable, `frozen`, or unknown: upstream's index 6, which counts as ≥ reshape.
    Unknown = 6,
}

const SYNC_ACTION_WORDS: [(&[u8], SyncAction); 6] = [
    (b"idle", SyncAction::Idle),
    (b"reshape", SyncAction::Reshape),
    (b"resync", SyncAction::Resync),
    (b"recover", SyncAction::Recover),
    (b"check", SyncAction::Check),
    (b"repair", SyncAction::Repair),
];

impl SyncAction {
    pub fn parse(text: &[u8]) -> Self {
        SYNC_ACTION_WORDS
            .iter()
            .find(|(w, _)| word_matches(text, w))
            .map_or(SyncAction::Unknown, |(_, s)| *s)
    }
}

bitflags! {
    /// Member state bits (mdadm's `DS_*`) from the comma-separated words of `dev-X/state`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct DiskState: u32 {
        const FAULTY = 1;
        const IN_SYNC = 2;
        const WRITE_MOSTLY = 4;
        const SPARE = 8;
        const BLOCKED = 16;
        const EXTERNAL_BBL = 4096;
    }
}

impl DiskState {
    /// Parses `faulty,blocked\n`-style text; unknown words are ignored (as upstream).
    pub fn parse(text: &[u8]) -> Self {
        let text = trim_newline(text);
        let mut bits = DiskState::empty();
        for word in text.split(|&b| b == b',' || b == b' ') {
            bits |= match word {
                b"faulty" => DiskState::FAULTY,
                b"in_sync" => DiskState::IN_SYNC,
                b"write_mostly" => DiskState::WRITE_MOSTLY,
                b"spare" => DiskState::SPARE,
                b"blocked" => DiskState::BLOCKED,
                b"external_bbl" => DiskState::EXTERNAL_BBL,
                _ => DiskState::empty(),
            };
        }
        bits
    }
}

/// `resync_start` / `dev-X/recovery_start`: `none` means complete ([`MAX_SECTOR`]); a
/// decimal number is a position; anything else is unreadable (`None`: keep the old value).
pub fn parse_sector_or_none(text: &[u8]) -> Option<u64> {
    let text = trim_newline(text);
    if text.starts_with(b"none") {
        return Some(MAX_SECTOR);
    }
    parse_u64(text, 10)
}

/// `component_size` (KiB per member) in sectors; `None` if unreadable.
pub fn parse_component_size(text: &[u8]) -> Option<u64> {
    parse_u64(trim_newline(text), 10).and_then(|kib| kib.checked_mul(2))
}

/// The first number of `sync_completed` ("1024 / 65536"): base auto-detected like
/// `strtoull(…, 0)`, followed by the end, a newline or a space; `none`, `delayed` or
/// anything unparsable reads as 0.
pub fn parse_sync_completed(text: &[u8]) -> u64 {
    let text = trim_newline(text);
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let first = &text[..end];
    let (digits, radix) = if let Some(hex) = first
        .strip_prefix(b"0x")
        .or_else(|| first.strip_prefix(b"0X"))
    {
        (hex, 16)
    } else if first.len() > 1 && first[0] == b'0' {
        (&first[1..], 8)
    } else {
        (first, 10)
    };
    parse_u64(digits, radix).unwrap_or(0)
}

/// `safe_mode_delay` text (`S.mmm`, e.g. `4.000`) in milliseconds.
pub fn parse_safe_mode_ms(text: &[u8]) -> Option<u64> {
    let text = trim_newline(text);
    let (secs, frac) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    let secs = parse_u64(secs, 10)?;
    let mut ms: u64 = 0;
    for i in 0..3 {
        let digit = match frac.get(i) {
            Some(d) if d.is_ascii_digit() => u64::from(d - b'0'),
            Some(_) => return None,
            None => 0,
        };
        ms = ms * 10 + digit;
    }
    secs.checked_mul(1000)?.checked_add(ms)
}

/// Whether `metadata_version` carries the blocked flag (`external:-…`): mdadm's freeze
/// channel. Text that is not an external subarray version counts as blocked, as upstream
/// treats an unreadable version as frozen.
pub fn metadata_version_blocked(text: &[u8]) -> bool {
    match text.strip_prefix(b"external:") {
        Some(rest) => rest.first() != Some(&b'/'),
        None => true,
    }
}

/// One bad-block range as md lists it in `dev-X/bad_blocks` and
/// `dev-X/unacknowledged_bad_blocks`: absolute member-disk sectors (md stores them with the
/// data offset added), length > 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadBlock {
    pub sector: u64,
    pub len: u32,
}

/// Bad blocks one member contributes to one pass. A burst of write errors is recorded over
/// several passes (the shell retries soon while more are waiting), so this stays small: it
/// lives on the monitor's stack once per member.
pub const BAD_BLOCKS_PER_PASS: usize = 4;

/// The complete lines of one read of a bad-block file (docs/monitor.md, "Bad blocks").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadBlockBatch {
    entries: [BadBlock; BAD_BLOCKS_PER_PASS],
    len: u8,
    /// Complete lines were left over (no room, or a line cut by the end of the read):
    /// another pass must look again.
    pub more: bool,
    /// A line was not `<sector> <length>\n` with length > 0: the rest of the file is ignored
    /// in this pass (mdadm aborts the file the same way).
    pub malformed: bool,
}

impl BadBlockBatch {
    pub fn entries(&self) -> &[BadBlock] {
        self.entries.get(..usize::from(self.len)).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file could not be read (or is not open): nothing can be recorded.
    pub fn unreadable() -> Self {
        BadBlockBatch {
            malformed: true,
            ..BadBlockBatch::default()
        }
    }

    /// Adds an entry; false when full.
    pub fn push(&mut self, bb: BadBlock) -> bool {
        match self.entries.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = bb;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Parses the text of one read from offset 0. Only complete lines count: a final line
    /// without its newline was cut by the reader's buffer (the kernel always ends lines), so
    /// it is left for the next read, which starts at 0 again once the lines before it are
    /// acknowledged. Total: any bytes give a batch, never a panic.
    pub fn parse(text: &[u8]) -> Self {
        let mut batch = BadBlockBatch::default();
        for line in bad_block_lines(text) {
            match line {
                BadBlockLine::Range(bb) if batch.push(bb) => {}
                // No room, or a cut line: more follows in the file.
                BadBlockLine::Range(_) | BadBlockLine::Cut => {
                    batch.more = true;
                    break;
                }
                BadBlockLine::Malformed => {
                    batch.malformed = true;
                    break;
                }
            }
        }
        batch
    }
}

/// One line of a bad-block file's text, read from offset 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadBlockLine {
    Range(BadBlock),
    /// The text ends inside a line (the reader's buffer was full): the rest is unseen.
    Cut,
    /// Not `<sector> <length>` with length > 0: the rest of the text is not read.
    Malformed,
}

/// The lines of `text` in order; ends after the last complete line, or with one `Cut` or
/// `Malformed`. Total, no allocation.
pub(crate) fn bad_block_lines(text: &[u8]) -> impl Iterator<Item = BadBlockLine> + '_ {
    let mut rest = text;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            rest = &[];
            return Some(BadBlockLine::Cut);
        };
        let (line, tail) = rest.split_at(nl);
        rest = tail.get(1..).unwrap_or(&[]);
        match parse_bad_block_line(line) {
            Some(bb) => Some(BadBlockLine::Range(bb)),
            None => {
                rest = &[];
                Some(BadBlockLine::Malformed)
            }
        }
    })
}

/// `<sector> <length>` (without the newline): decimal, one space, length in 1..=i32::MAX
/// (md prints it with `%d`/`%u` from an int).
fn parse_bad_block_line(line: &[u8]) -> Option<BadBlock> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let (sector, len) = line.split_at(sp);
    let sector = parse_u64(sector, 10)?;
    let len = parse_u64(len.get(1..)?, 10)?;
    if len == 0 || len > i32::MAX as u64 {
        return None;
    }
    Some(BadBlock {
        sector,
        len: u32::try_from(len).ok()?,
    })
}

/// Longest acknowledgement line: `18446744073709551615 2147483647\n`.
pub const BAD_BLOCK_LINE_MAX: usize = 20 + 1 + 10 + 1;

/// Formats `<sector> <length>\n` (the line md listed; writing it to `bad_blocks`
/// acknowledges the range) into `buf` without allocation or `core::fmt`; returns the bytes.
pub fn format_bad_block(bb: BadBlock, buf: &mut [u8; BAD_BLOCK_LINE_MAX]) -> &[u8] {
    let mut n = 0;
    n += put_decimal(bb.sector, buf, n);
    if let Some(b) = buf.get_mut(n) {
        *b = b' ';
        n += 1;
    }
    n += put_decimal(u64::from(bb.len), buf, n);
    if let Some(b) = buf.get_mut(n) {
        *b = b'\n';
        n += 1;
    }
    buf.get(..n).unwrap_or(&[])
}

/// Writes `v` in decimal at `buf[at..]`; returns the digits written.
fn put_decimal(mut v: u64, buf: &mut [u8], at: usize) -> usize {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    loop {
        k -= 1;
        if let Some(d) = digits.get_mut(k) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || k == 0 {
            break;
        }
    }
    let src = digits.get(k..).unwrap_or(&[]);
    let mut n = 0;
    // A byte loop, not `copy_from_slice`: that one carries a length-mismatch panic path
    // onto the monitor thread (`cargo xtask audit`).
    for (d, s) in buf.iter_mut().skip(at).zip(src) {
        *d = *s;
        n += 1;
    }
    n
}

fn word_matches(text: &[u8], word: &[u8]) -> bool {
    match text.strip_prefix(word) {
        Some(rest) => matches!(rest.first(), None | Some(b',') | Some(b'\n')),
        None => false,
    }
}

fn trim_newline(text: &[u8]) -> &[u8] {
    text.strip_suffix(b"\n").unwrap_or(text)
}

fn parse_u64(digits: &[u8], radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        let v = (d as char).to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(v))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_states_match_words_like_mdadm() {
        assert_eq!(
            ArrayState::parse(b"write-pending\n"),
            ArrayState::WritePending
        );
        assert_eq!(ArrayState::parse(b"active-idle"), ArrayState::ActiveIdle);
        // "active" must not match "active-idle" and vice versa
        assert_eq!(ArrayState::parse(b"active\n"), ArrayState::Active);
        assert_eq!(ArrayState::parse(b"read-auto"), ArrayState::ReadAuto);
        assert_eq!(ArrayState::parse(b"cleanish"), ArrayState::Unknown);
        assert_eq!(ArrayState::parse(b""), ArrayState::Unknown);
        for (word, state) in ARRAY_STATE_WORDS {
            assert_eq!(state.word(), word);
            assert_eq!(ArrayState::parse(word), state);
        }
        assert!(ArrayState::Inactive < ArrayState::Readonly);
        assert!(ArrayState::Unknown > ArrayState::Readonly);
    }

    #[test]
    fn sync_actions() {
        assert_eq!(SyncAction::parse(b"recover\n"), SyncAction::Recover);
        assert_eq!(SyncAction::parse(b"frozen\n"), SyncAction::Unknown);
        assert_eq!(SyncAction::parse(b"idle"), SyncAction::Idle);
        assert!(SyncAction::Unknown >= SyncAction::Reshape);
    }

    #[test]
    fn disk_state_words() {
        let s = DiskState::parse(b"faulty,blocked\n");
        assert_eq!(s, DiskState::FAULTY | DiskState::BLOCKED);
        assert_eq!(
            DiskState::parse(b"in_sync,write_error,external_bbl"),
            DiskState::IN_SYNC | DiskState::EXTERNAL_BBL
        );
        assert_eq!(DiskState::parse(b"spare\n"), DiskState::SPARE);
        assert_eq!(DiskState::parse(b""), DiskState::empty());
    }

    #[test]
    fn sectors_and_progress() {
        assert_eq!(parse_sector_or_none(b"none\n"), Some(MAX_SECTOR));
        assert_eq!(parse_sector_or_none(b"12345\n"), Some(12345));
        assert_eq!(parse_sector_or_none(b"12a"), None);
        assert_eq!(parse_sector_or_none(b""), None);
        assert_eq!(parse_sync_completed(b"1024 / 65536\n"), 1024);
        assert_eq!(parse_sync_completed(b"none\n"), 0);
        assert_eq!(parse_sync_completed(b"delayed\n"), 0);
        assert_eq!(parse_sync_completed(b"0x10 / 20"), 16);
        assert_eq!(parse_sync_completed(b"99999999999999999999999 / 1"), 0);
    }

    #[test]
    fn safe_mode_and_blocked_flag() {
        assert_eq!(parse_safe_mode_ms(b"4.000\n"), Some(4000));
        assert_eq!(parse_safe_mode_ms(b"0.001"), Some(1));
        assert_eq!(parse_safe_mode_ms(b"0.2"), Some(200));
        assert_eq!(parse_safe_mode_ms(b"x"), None);
        assert!(!metadata_version_blocked(b"external:/md127/0\n"));
        assert!(metadata_version_blocked(b"external:-md127/0\n"));
        assert!(metadata_version_blocked(b""));
    }
    #[test]
    fn bad_block_lines() {
        let b = BadBlockBatch::parse(b"16384 8\n20000 1\n");
        assert_eq!(
            b.entries(),
            [
                BadBlock {
                    sector: 16384,
                    len: 8
                },
                BadBlock {
                    sector: 20000,
                    len: 1
                }
            ]
        );
        assert!(!b.more && !b.malformed);
        // a line cut by the reader's buffer is left for the next read
        let b = BadBlockBatch::parse(b"16384 8\n2000");
        assert_eq!(
            b.entries(),
            [BadBlock {
                sector: 16384,
                len: 8
            }]
        );
        assert!(b.more && !b.malformed);
        // more lines than one pass takes
        let b = BadBlockBatch::parse(b"1 1\n2 1\n3 1\n4 1\n5 1\n");
        assert_eq!(b.entries().len(), BAD_BLOCKS_PER_PASS);
        assert!(b.more);
        assert!(BadBlockBatch::parse(b"").is_empty());
    }

    #[test]
    fn garbled_bad_block_text_never_yields_a_range() {
        for text in [
            &b"16384 0\n"[..],
            b"16384 -8\n",
            b"16384\n",
            b" 8\n",
            b"16384 8 9\n",
            b"16384  8\n",
            b"x 8\n",
            b"99999999999999999999 8\n",
            b"1 2147483648\n",
            b"\n",
            b"\xff\xfe\n",
        ] {
            let b = BadBlockBatch::parse(text);
            assert!(b.is_empty(), "{text:?}");
            assert!(b.malformed, "{text:?}");
        }
        // entries before the garbage count; nothing after it
        let b = BadBlockBatch::parse(b"8 8\nbad\n16 8\n");
        assert_eq!(b.entries(), [BadBlock { sector: 8, len: 8 }]);
        assert!(b.malformed);
        // every prefix of every byte soup parses without panicking
        let soup = b"123 4\n\x00 9\n18446744073709551615 2147483647\n 1\n";
        for end in 0..=soup.len() {
            let _ = BadBlockBatch::parse(&soup[..end]);
        }
    }

    #[test]
    fn bad_block_lines_round_trip() {
        let mut buf = [0u8; BAD_BLOCK_LINE_MAX];
        for bb in [
            BadBlock { sector: 0, len: 1 },
            BadBlock {
                sector: 16384,
                len: 8,
            },
            BadBlock {
                sector: u64::MAX,
                len: i32::MAX as u32,
            },
        ] {
            let line = format_bad_block(bb, &mut buf);
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(BadBlockBatch::parse(line).entries(), [bb]);
        }
        assert_eq!(
            format_bad_block(
                BadBlock {
                    sector: 16384,
                    len: 8
                },
                &mut buf
            ),
            b"16384 8\n"
        );
    }
}
