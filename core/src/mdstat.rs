//! `/proc/mdstat` entries as mdmon reads them (docs/manager.md, "What is read from
//! /proc/mdstat"; upstream's mdstat.c `mdstat_read`), parsed in place without allocation.

/// One `mdX : …` entry (its first line and continuation lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub devnm: &'a str,
    /// `Some(true)` for `active`, `Some(false)` for `inactive`, `None` if neither word.
    pub active: Option<bool>,
    /// First word after `active` that does not start with `(`, e.g. `raid1`.
    pub level: Option<&'a str>,
    /// Text after `super`, e.g. `external:/md127/0` or `external:imsm`.
    pub metadata_version: Option<&'a str>,
    /// `n` of `[n/m]`.
    pub raid_disks: Option<u32>,
    /// Member words (`sda[0]`, `sdb[1](S)`).
    pub devcnt: u32,
}

impl<'a> Entry<'a> {
    /// The container and instance of a member array (`external:/md127/0` or the blocked
    /// form `external:-md127/0`): `(container, inst, blocked)`.
    pub fn subarray(&self) -> Option<(&'a str, &'a str, bool)> {
        let rest = self.metadata_version?.strip_prefix("external:")?;
        let blocked = match rest.as_bytes().first()? {
            b'/' => false,
            b'-' => true,
            _ => return None,
        };
        let (container, inst) = rest.get(1..)?.split_once('/')?;
        Some((container, inst, blocked))
    }

    /// Whether this entry is a member array of container `devnm` (util.c
    /// `metadata_container_matches`).
    pub fn is_member_of(&self, devnm: &str) -> bool {
        self.subarray().is_some_and(|(c, _, _)| c == devnm)
    }

    /// Whether this is a container (`external:<format>`).
    pub fn is_container(&self) -> bool {
        self.metadata_version
            .and_then(|v| v.strip_prefix("external:"))
            .is_some_and(|rest| !rest.starts_with('/') && !rest.starts_with('-'))
    }
}

/// Iterates over the entries of an mdstat text.
pub fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    let mut lines = text.lines().peekable();
    core::iter::from_fn(move || loop {
        let line = lines.next()?;
        let Some((name, rest)) = line.split_once(" : ") else {
            continue;
        };
        let name = name.trim();
        let valid = name.starts_with("md")
            && name.len() < 32
            && name
                .as_bytes()
                .get(2)
                .is_some_and(|c| c.is_ascii_digit() || *c == b'_');
        if !valid {
            continue;
        }
        let mut e = Entry {
            devnm: name,
            active: None,
            level: None,
            metadata_version: None,
            raid_disks: None,
            devcnt: 0,
        };
        parse_words(&mut e, rest, true);
        // Continuation lines are indented; the entry ends at a blank line or a new entry.
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() || !next.starts_with(' ') {
                break;
            }
            let next = lines.next().unwrap_or("");
            parse_words(&mut e, next, false);
        }
        return Some(e);
    })
}

fn parse_words<'a>(e: &mut Entry<'a>, line: &'a str, first: bool) {
    let mut words = line.split_whitespace().peekable();
    let mut after_active = false;
    while let Some(w) = words.next() {
        if w.starts_with("bitmap:") {
            return;
        }
        if first && w == "active" {
            e.active = Some(true);
            after_active = true;
            continue;
        }
        if first && w == "inactive" {
            e.active = Some(false);
            continue;
        }
        if after_active && e.level.is_none() && !w.starts_with('(') {
            e.level = Some(w);
            after_active = false;
            continue;
        }
        if w == "super" {
            e.metadata_version = words.next();
            continue;
        }
        if first && w.contains('[') {
            e.devcnt += 1;
            continue;
        }
        if let Some(inner) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            if let Some((n, _)) = inner.split_once('/') {
                if let Ok(n) = n.parse() {
                    e.raid_disks = Some(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Personalities : [raid0] [raid1] [raid10] [raid6] [raid5] [raid4] [linear] \n\
md125 : active raid5 sdc[2] sdb[1] sda[0]\n      65536 blocks super external:/md127/1 level 5, 128k chunk, algorithm 0 [3/3] [UUU]\n      [>....................]  resync =  3.0% (1024/32768) finish=0.5min speed=1024K/sec\n      \n\
md126 : active (auto-read-only) raid1 sdb[1] sda[0]\n      32768 blocks super external:-md127/0 [2/2] [UU]\n      \n\
md127 : inactive sdc[2](S) sdb[1](S) sda[0](S)\n      3315 blocks super external:imsm\n       \n\
unused devices: <none>\n";

    #[test]
    fn parses_members_and_containers_as_the_rig_shows_them() {
        let all: std::vec::Vec<Entry<'_>> = entries(SAMPLE).collect();
        assert_eq!(all.len(), 3);
        let r5 = all[0];
        assert_eq!(r5.devnm, "md125");
        assert_eq!(r5.active, Some(true));
        assert_eq!(r5.level, Some("raid5"));
        assert_eq!(r5.raid_disks, Some(3));
        assert_eq!(r5.devcnt, 3);
        assert_eq!(r5.subarray(), Some(("md127", "1", false)));
        assert!(r5.is_member_of("md127") && !r5.is_member_of("md12"));
        let r1 = all[1];
        assert_eq!(r1.level, Some("raid1"), "(auto-read-only) is skipped");
        assert_eq!(r1.subarray(), Some(("md127", "0", true)));
        let c = all[2];
        assert_eq!(c.active, Some(false));
        assert!(c.is_container() && !r1.is_container());
        assert_eq!(c.devcnt, 3);
        assert_eq!(c.level, None);
    }

    #[test]
    fn garbage_is_skipped_not_trusted() {
        assert_eq!(entries("x : y\nmdx : active\n").count(), 0);
        let e: std::vec::Vec<_> = entries("md1 : active raid1 super\n").collect();
        assert_eq!(e[0].metadata_version, None);
    }
}
