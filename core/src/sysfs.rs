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
}
