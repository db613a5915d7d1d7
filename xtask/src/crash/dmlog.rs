//! Reading the log dm-log-writes keeps (the kernel's `Documentation/admin-guide/
//! device-mapper/log-writes.rst`; layout in docs/crash.md, "The log").
//!
//! Sector 0 holds the super block (magic, version, entry count, sector size). Each entry
//! then takes one sector: its header (target sector, sector count, flags, length of inline
//! data), a mark's name inline after the header, and for a write its data in the
//! `count` sectors that follow.

use std::ops::Range;

const MAGIC: u64 = 0x006a_7366_7773_6872;
const VERSION: u64 = 1;
pub const FLUSH: u64 = 1 << 0;
pub const FUA: u64 = 1 << 1;
pub const DISCARD: u64 = 1 << 2;
pub const MARK: u64 = 1 << 3;
/// REQ_META writes (newer kernels set it; 6.1 does not).
pub const METADATA: u64 = 1 << 4;

/// One entry of the log, in log order (the order writes completed and were flushed).
#[derive(Debug, Clone)]
pub struct Entry {
    /// First sector written (in `sector_size` units of the logged device).
    pub sector: u64,
    pub flags: u64,
    /// Where the written bytes sit in the log file (empty for flushes, marks and discards).
    pub data: Range<usize>,
    pub mark: Option<String>,
}

pub struct Log {
    pub sector_size: u64,
    pub entries: Vec<Entry>,
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

pub fn parse(bytes: &[u8]) -> Result<Log, String> {
    let bad = |what: &str| format!("dm-log-writes log: {what}");
    if le64(bytes, 0) != Some(MAGIC) {
        return Err(bad(
            "no super block (wrong magic): the log device was never set up",
        ));
    }
    if le64(bytes, 8) != Some(VERSION) {
        return Err(bad("unknown version"));
    }
    let count = le64(bytes, 16).ok_or_else(|| bad("short super block"))?;
    let sector_size = bytes
        .get(24..28)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
        .filter(|s| *s == 512 || *s == 4096)
        .ok_or_else(|| bad("sector size neither 512 nor 4096"))?;
    let ss = sector_size as usize;
    let mut at = ss;
    let mut entries = Vec::with_capacity(count as usize);
    // The super block's count is rewritten only now and then; entries written after it
    // last was are read too, up to the first sector that is not an entry.
    for i in 0.. {
        let past_count = i >= count;
        let head = |off: usize| le64(bytes, at + off);
        let (Some(sector), Some(sectors), Some(flags), Some(inline)) =
            (head(0), head(8), head(16), head(24))
        else {
            if past_count {
                break;
            }
            return Err(bad(&format!("entry {i} cut short")));
        };
        let known = flags & !(FLUSH | FUA | DISCARD | MARK | METADATA) == 0;
        if (flags == 0 && sectors == 0) || !known {
            if past_count {
                break;
            }
            return Err(bad(&format!(
                "entry {i} is not an entry (the log was not closed?)"
            )));
        }
        if past_count && at + ss + (sectors as usize) * ss > bytes.len() {
            break;
        }
        let mark = (flags & MARK != 0).then(|| {
            let from = at + 32;
            let to = (from + inline as usize).min(at + ss).min(bytes.len());
            String::from_utf8_lossy(bytes.get(from..to).unwrap_or(&[])).into_owned()
        });
        at += ss;
        let mut data = at..at;
        if flags & DISCARD == 0 && sectors > 0 {
            let len = sectors as usize * ss;
            if at + len > bytes.len() {
                return Err(bad(&format!(
                    "entry {i}: data runs past the end of the log"
                )));
            }
            data = at..at + len;
            at += len;
        }
        entries.push(Entry {
            sector,
            flags,
            data,
            mark,
        });
    }
    Ok(Log {
        sector_size,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(entries: &[(u64, u64, u64, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..8].copy_from_slice(&MAGIC.to_le_bytes());
        b[8..16].copy_from_slice(&VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&(entries.len() as u64).to_le_bytes());
        b[24..28].copy_from_slice(&512u32.to_le_bytes());
        for (sector, n, flags, payload) in entries {
            let mut e = vec![0u8; 512];
            e[..8].copy_from_slice(&sector.to_le_bytes());
            e[8..16].copy_from_slice(&n.to_le_bytes());
            e[16..24].copy_from_slice(&flags.to_le_bytes());
            if flags & MARK != 0 {
                e[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
                e[32..32 + payload.len()].copy_from_slice(payload);
            }
            b.extend_from_slice(&e);
            if flags & MARK == 0 {
                b.extend_from_slice(payload);
            }
        }
        b
    }

    #[test]
    fn writes_marks_and_flushes_come_back_in_order() {
        let data = [7u8; 1024];
        let bytes = log_with(&[
            (10, 2, FUA, &data),
            (0, 0, MARK, b"created"),
            (0, 0, FLUSH, &[]),
        ]);
        let log = parse(&bytes).unwrap();
        assert_eq!(log.entries.len(), 3);
        let w = &log.entries[0];
        assert_eq!((w.sector, w.flags, w.data.len()), (10, FUA, 1024));
        assert_eq!(&bytes[w.data.clone()], &data[..]);
        assert_eq!(log.entries[1].mark.as_deref(), Some("created"));
        assert!(log.entries[2].data.is_empty());
    }

    #[test]
    fn a_log_cut_short_is_an_error_not_a_panic() {
        let data = [7u8; 1024];
        let bytes = log_with(&[(10, 2, 0, &data)]);
        let err = parse(&bytes[..bytes.len() - 1]).err().unwrap();
        assert!(err.contains("past the end"), "{err}");
        assert!(parse(&[0u8; 600]).is_err());
    }
}
