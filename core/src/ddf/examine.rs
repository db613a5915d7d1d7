//! `mdadm --examine`-style rendering of a loaded container, as text close to mdadm's
//! (`examine_super_ddf`) and as JSON.
//!
//! Both are pure: they format into any [`core::fmt::Write`]. For a single-disk examine, load a
//! [`Container`] from that one disk, as mdadm does.
//!
//! # JSON schema (stable; fields are only ever added)
//!
//! ```text
//! {
//!   "format": "ddf",
//!   "family": "<container GUID, 48 hex digits>",   // identical on every member
//!   "generation": <u32>,                            // active header sequence number
//!   "container_guid": "<48 hex>",
//!   "controller_guid": "<48 hex>",
//!   "revision": "01.02.00",
//!   "sequence": <u32>,                              // same as generation
//!   "redundant_header": <bool>,                     // a secondary header is recorded
//!   "max_pd_entries": <u16>, "used_pd_entries": <u16>,
//!   "max_vd_entries": <u16>, "populated_vd_entries": <u16>,
//!   "members": [                                    // the disks this container was loaded from
//!     { "device": "<name>"|null, "refnum": "<8 hex>", "guid": "<48 hex>",
//!       "pd_index": <n>|null, "primary_lba": <n>, "secondary_lba": <n>|null } ],
//!   "disks": [                                      // used PD entries (refnum != ffffffff)
//!     { "index": <n>, "refnum": "<8 hex>", "guid": "<48 hex>",
//!       "type": ["active"|"global-spare"|"spare"|"foreign"|"pass-through"|"forced-guid", ...],
//!       "state": ["online"|"failed"|"rebuilding"|"transition"|"smart-errors"
//!                 |"unrecovered-read-errors"|"missing", ...],
//!       "config_size": <sectors>, "device": "<name>"|null } ],
//!   "volumes": [                                    // used VD entries
//!     { "index": <vcnum>, "guid": "<48 hex>", "name": "<string>", "unit": <n>,
//!       "state": "optimal"|"degraded"|"deleted"|"missing"|"failed"|"partially-optimal"|...,
//!       "consistent": <bool>, "morphing": <bool>,
//!       "init_state": "not-initialised"|"quick-init-in-progress"|"fully-initialised"|"unknown",
//!       "access": "read-write"|"reserved"|"read-only"|"blocked",
//!       "bvds": [                                   // configuration records known for it
//!         { "secondary_position": <n>, "secondary_count": <n>, "sequence": <u32>,
//!           "primary_level": "<RAID1…>", "rlq": <n>, "secondary_level": <n>,
//!           "chunk_sectors": <n>|null, "block_count": <sectors>, "array_size": <sectors>,
//!           "crc_ok": <bool>,
//!           "members": [ { "pd_index": <n>|null, "refnum": "<8 hex>", "lba": <sectors> } ] } ] } ]
//! }
//! ```

use core::fmt::{self, Write};

use super::layout::{Guid, HEADER_MAGIC, NO_LBA, UNUSED_GUID, UNUSED_REFNUM};
use super::model::{Bvd, Container, DiskId, INIT_STATE_MASK, VD_MORPHING, VD_NOT_CONSISTENT};
use super::DDF_EPOCH_OFFSET;

/// Device names for the "Device" column: the shell's names for member disks.
pub type DeviceNames<'a> = &'a [(DiskId, &'a str)];

fn name_of<'a>(names: DeviceNames<'a>, id: DiskId) -> Option<&'a str> {
    names.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

const VD_STATES: [&str; 8] = [
    "Optimal",
    "Degraded",
    "Deleted",
    "Missing",
    "Failed",
    "Partially Optimal",
    "-reserved-",
    "-reserved-",
];
const INIT_STATES: [&str; 4] = [
    "Not Initialised",
    "QuickInit in Progress",
    "Fully Initialised",
    "*UNKNOWN*",
];
const ACCESS: [&str; 4] = ["Read/Write", "Reserved", "Read Only", "Blocked (no access)"];

/// mdadm's name of a primary RAID level.
pub fn level_name(prl: u8) -> Option<&'static str> {
    use super::ops::prl::*;
    Some(match prl {
        RAID0 => "RAID0",
        RAID1 => "RAID1",
        RAID3 => "RAID3",
        RAID4 => "RAID4",
        RAID5 => "RAID5",
        RAID1E => "RAID1E",
        JBOD => "JBOD",
        CONCAT => "CONCAT",
        RAID5E => "RAID5E",
        RAID5EE => "RAID5EE",
        RAID6 => "RAID6",
        _ => return None,
    })
}

fn secondary_level_name(srl: u8) -> Option<&'static str> {
    Some(match srl {
        0 => "Striped",
        1 => "Mirrored",
        2 => "Concat",
        3 => "Spanned",
        _ => return None,
    })
}

/// Civil date (UTC) of a Unix time: (year, month, day, hour, minute, second).
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        ((secs / 60) % 60) as u32,
        (secs % 60) as u32,
    )
}

/// mdadm's `print_guid`: hex in groups of four bytes, then the leading printable ASCII and,
/// for header/VD GUIDs, the creation time from bytes 16–19 (`%D %T`, here in the time zone
/// `tz_offset` seconds east of UTC; mdadm uses the local zone).
fn print_guid<W: Write>(w: &mut W, guid: &Guid, tstamp: bool, tz_offset: i64) -> fmt::Result {
    for (i, b) in guid.iter().enumerate() {
        if i % 4 == 0 && i != 0 {
            w.write_char(':')?;
        }
        write!(w, "{b:02X}")?;
    }
    w.write_str("\n                  (")?;
    let mut l = guid.len();
    while l > 0 && guid.get(l - 1) == Some(&b' ') {
        l -= 1;
    }
    for &c in guid.iter().take(l) {
        if (0x20..0x7f).contains(&c) {
            w.write_char(char::from(c))?;
        } else {
            break;
        }
    }
    if tstamp {
        let t = u32::from_be_bytes([guid[16], guid[17], guid[18], guid[19]]);
        let (y, mo, d, h, mi, s) =
            civil((i64::from(t) + DDF_EPOCH_OFFSET as i64).saturating_add(tz_offset));
        write!(
            w,
            " {:02}/{:02}/{:02} {:02}:{:02}:{:02}",
            mo,
            d,
            y.rem_euclid(100),
            h,
            mi,
            s
        )?;
    }
    w.write_char(')')
}

/// The first BVD (lowest BVD index) of a VD whose CRC verified, as mdadm's `examine_vd`
/// prints one record per VD.
fn shown_bvd<'a>(c: &'a Container, guid: &Guid) -> Option<&'a Bvd> {
    let count = c.volume(guid)?.sec_count.max(1);
    (0..count).filter_map(|i| c.bvd(guid, i)).find(|b| b.crc_ok)
}

/// Text as `mdadm --examine` prints it for a DDF member (without the "/dev/x:" line).
pub fn examine_text<W: Write>(
    c: &Container,
    names: DeviceNames<'_>,
    redundant_header: bool,
    tz_offset: i64,
    w: &mut W,
) -> fmt::Result {
    writeln!(w, "          Magic : {HEADER_MAGIC:08x}")?;
    let rev = core::str::from_utf8(&c.header.revision).unwrap_or("????????");
    writeln!(w, "        Version : {rev}")?;
    w.write_str("Controller GUID : ")?;
    print_guid(w, &c.controller.guid, false, tz_offset)?;
    w.write_char('\n')?;
    w.write_str(" Container GUID : ")?;
    print_guid(w, &c.header.guid, true, tz_offset)?;
    w.write_char('\n')?;
    writeln!(w, "            Seq : {:08x}", c.header.seq.get())?;
    writeln!(
        w,
        "  Redundant hdr : {}",
        if redundant_header { "yes" } else { "no" }
    )?;

    let populated = c.virt.populated_vdes.get();
    writeln!(w, "  Virtual Disks : {populated}")?;
    for (i, ve) in c.vds.iter().enumerate() {
        if ve.guid == UNUSED_GUID {
            continue;
        }
        w.write_char('\n')?;
        write!(w, "      VD GUID[{i}] : ")?;
        print_guid(w, &ve.guid, true, tz_offset)?;
        w.write_char('\n')?;
        writeln!(w, "         unit[{i}] : {}", ve.unit.get())?;
        writeln!(
            w,
            "        state[{i}] : {}, {}{}",
            VD_STATES[usize::from(ve.state & 7)],
            if ve.state & VD_MORPHING != 0 {
                "Morphing, "
            } else {
                ""
            },
            if ve.state & VD_NOT_CONSISTENT != 0 {
                "Not Consistent"
            } else {
                "Consistent"
            }
        )?;
        writeln!(
            w,
            "   init state[{i}] : {}",
            INIT_STATES[usize::from(ve.init_state & INIT_STATE_MASK)]
        )?;
        writeln!(
            w,
            "       access[{i}] : {}",
            ACCESS[usize::from((ve.init_state >> 6) & 3)]
        )?;
        w.write_str("         Name[")?;
        write!(w, "{i}] : ")?;
        for &b in ve.name.iter().take_while(|&&b| b != 0) {
            w.write_char(char::from(b))?;
        }
        w.write_char('\n')?;
        if let Some(b) = shown_bvd(c, &ve.guid) {
            examine_bvd(c, i, b, w)?;
        }
    }
    if populated != 0 {
        w.write_char('\n')?;
    }

    writeln!(w, " Physical Disks : {}", c.phys.max_pdes.get())?;
    writeln!(
        w,
        "      Number    RefNo      Size       Device      Type/State"
    )?;
    for (i, pd) in c.pds.iter().enumerate() {
        let refnum = pd.refnum.get();
        if refnum == UNUSED_REFNUM {
            continue;
        }
        write!(w, "       {i:3}    {refnum:08x}  ")?;
        write!(w, "{:8}K ", pd.config_size.get() >> 1)?;
        let dev = c
            .disks
            .iter()
            .filter(|d| d.refnum() == refnum)
            .find_map(|d| name_of(names, d.id));
        match dev {
            Some(n) => write!(w, "{n:<15}")?,
            None => write!(w, "{:15}", "")?,
        }
        let t = pd.pd_type.get();
        let mut s = pd.state.get();
        write!(
            w,
            " {}{}{}{}{}",
            if t & 2 != 0 { "active" } else { "" },
            if t & 4 != 0 { "Global-Spare" } else { "" },
            if t & 8 != 0 { "spare" } else { "" },
            if t & 16 != 0 { ", foreign" } else { "" },
            if t & 32 != 0 { "pass-through" } else { "" }
        )?;
        if s & 2 != 0 {
            s &= !(1 | 4 | 8); // Failed overrides Online, Rebuilding and Transition
        }
        writeln!(
            w,
            "/{}{}{}{}{}{}{}",
            if s & 1 != 0 { "Online" } else { "Offline" },
            if s & 2 != 0 { ", Failed" } else { "" },
            if s & 4 != 0 { ", Rebuilding" } else { "" },
            if s & 8 != 0 { ", in-transition" } else { "" },
            if s & 16 != 0 { ", SMART-errors" } else { "" },
            if s & 32 != 0 {
                ", Unrecovered-Read-Errors"
            } else {
                ""
            },
            if s & 64 != 0 { ", Missing" } else { "" }
        )?;
    }
    let mut unlisted = false;
    for d in c.disks.iter() {
        let listed = c
            .pds
            .iter()
            .any(|p| p.refnum.get() != UNUSED_REFNUM && p.refnum.get() == d.refnum())
            && name_of(names, d.id).is_some();
        if listed {
            continue;
        }
        if !unlisted {
            writeln!(w, " Physical disks not in metadata!:")?;
        }
        unlisted = true;
        writeln!(
            w,
            "   {:08x} {}",
            d.refnum(),
            name_of(names, d.id).unwrap_or("-unknown-")
        )?;
    }
    if unlisted {
        w.write_char('\n')?;
    }
    Ok(())
}

fn examine_bvd<W: Write>(c: &Container, n: usize, b: &Bvd, w: &mut W) -> fmt::Result {
    let prim = b.prim_count();
    write!(w, " Raid Devices[{n}] : {prim} (")?;
    for (i, e) in b.elements.iter().take(prim).enumerate() {
        if i != 0 {
            w.write_char(' ')?;
        }
        match c.pds.iter().position(|p| p.refnum.get() == e.refnum) {
            Some(j) => write!(w, "{j}")?,
            None => w.write_str("--")?,
        }
        write!(w, "@{}K", e.lba / 2)?;
    }
    writeln!(w, ")")?;
    if b.fixed.chunk_shift != 255 {
        writeln!(
            w,
            "   Chunk Size[{n}] : {} sectors",
            1u64 << (b.fixed.chunk_shift & 63)
        )?;
    }
    writeln!(
        w,
        "   Raid Level[{n}] : {}",
        level_name(b.fixed.prl).unwrap_or("-unknown-")
    )?;
    if b.fixed.sec_elmnt_count != 1 {
        writeln!(
            w,
            "  Secondary Position[{n}] : {} of {}",
            b.fixed.sec_elmnt_seq, b.fixed.sec_elmnt_count
        )?;
        writeln!(
            w,
            "  Secondary Level[{n}] : {}",
            secondary_level_name(b.fixed.srl).unwrap_or("-unknown-")
        )?;
    }
    writeln!(w, "  Device Size[{n}] : {}", b.blocks() / 2)?;
    writeln!(w, "   Array Size[{n}] : {}", b.fixed.array_blocks.get() / 2)
}

fn hex_guid<W: Write>(w: &mut W, g: &Guid) -> fmt::Result {
    w.write_char('"')?;
    for b in g {
        write!(w, "{b:02x}")?;
    }
    w.write_char('"')
}

fn json_str<W: Write>(w: &mut W, bytes: &[u8]) -> fmt::Result {
    w.write_char('"')?;
    for &b in bytes {
        match b {
            b'"' => w.write_str("\\\"")?,
            b'\\' => w.write_str("\\\\")?,
            0x20..=0x7e => w.write_char(char::from(b))?,
            _ => write!(w, "\\u{:04x}", b)?,
        }
    }
    w.write_char('"')
}

fn json_opt_name<W: Write>(w: &mut W, n: Option<&str>) -> fmt::Result {
    match n {
        Some(n) => json_str(w, n.as_bytes()),
        None => w.write_str("null"),
    }
}

fn json_flags<W: Write>(w: &mut W, bits: u16, names: &[(u16, &str)]) -> fmt::Result {
    w.write_char('[')?;
    let mut first = true;
    for (bit, name) in names {
        if bits & bit != 0 {
            if !first {
                w.write_char(',')?;
            }
            first = false;
            write!(w, "\"{name}\"")?;
        }
    }
    w.write_char(']')
}

const TYPE_NAMES: [(u16, &str); 6] = [
    (1, "forced-guid"),
    (2, "active"),
    (4, "global-spare"),
    (8, "spare"),
    (16, "foreign"),
    (32, "pass-through"),
];
const STATE_NAMES: [(u16, &str); 7] = [
    (1, "online"),
    (2, "failed"),
    (4, "rebuilding"),
    (8, "transition"),
    (16, "smart-errors"),
    (32, "unrecovered-read-errors"),
    (64, "missing"),
];
const VD_STATE_JSON: [&str; 8] = [
    "optimal",
    "degraded",
    "deleted",
    "missing",
    "failed",
    "partially-optimal",
    "offline",
    "reserved",
];
const INIT_JSON: [&str; 4] = [
    "not-initialised",
    "quick-init-in-progress",
    "fully-initialised",
    "unknown",
];
const ACCESS_JSON: [&str; 4] = ["read-write", "reserved", "read-only", "blocked"];

/// JSON rendering (schema in the module documentation), on one line.
pub fn examine_json<W: Write>(
    c: &Container,
    names: DeviceNames<'_>,
    redundant_header: bool,
    w: &mut W,
) -> fmt::Result {
    let seq = c.header.seq.get();
    w.write_str("{\"format\":\"ddf\",\"family\":")?;
    hex_guid(w, &c.header.guid)?;
    write!(w, ",\"generation\":{seq},\"container_guid\":")?;
    hex_guid(w, &c.header.guid)?;
    w.write_str(",\"controller_guid\":")?;
    hex_guid(w, &c.controller.guid)?;
    w.write_str(",\"revision\":")?;
    json_str(w, &c.header.revision)?;
    write!(
        w,
        ",\"sequence\":{seq},\"redundant_header\":{redundant_header},\"max_pd_entries\":{},\"used_pd_entries\":{},\"max_vd_entries\":{},\"populated_vd_entries\":{}",
        c.phys.max_pdes.get(),
        c.phys.used_pdes.get(),
        c.virt.max_vdes.get(),
        c.virt.populated_vdes.get()
    )?;
    w.write_str(",\"members\":[")?;
    for (i, d) in c.disks.iter().enumerate() {
        if i != 0 {
            w.write_char(',')?;
        }
        w.write_str("{\"device\":")?;
        json_opt_name(w, name_of(names, d.id))?;
        write!(w, ",\"refnum\":\"{:08x}\",\"guid\":", d.refnum())?;
        hex_guid(w, &d.pd_data.guid)?;
        w.write_str(",\"pd_index\":")?;
        match d.pd_index {
            Some(p) => write!(w, "{p}")?,
            None => w.write_str("null")?,
        }
        write!(w, ",\"primary_lba\":{},\"secondary_lba\":", d.primary_lba)?;
        if d.secondary_lba == NO_LBA {
            w.write_str("null}")?;
        } else {
            write!(w, "{}}}", d.secondary_lba)?;
        }
    }
    w.write_str("],\"disks\":[")?;
    let mut first = true;
    for (i, pd) in c.pds.iter().enumerate() {
        let refnum = pd.refnum.get();
        if refnum == UNUSED_REFNUM {
            continue;
        }
        if !first {
            w.write_char(',')?;
        }
        first = false;
        write!(w, "{{\"index\":{i},\"refnum\":\"{refnum:08x}\",\"guid\":")?;
        hex_guid(w, &pd.guid)?;
        w.write_str(",\"type\":")?;
        json_flags(w, pd.pd_type.get(), &TYPE_NAMES)?;
        w.write_str(",\"state\":")?;
        json_flags(w, pd.state.get(), &STATE_NAMES)?;
        write!(w, ",\"config_size\":{},\"device\":", pd.config_size.get())?;
        let dev = c
            .disks
            .iter()
            .filter(|d| d.refnum() == refnum)
            .find_map(|d| name_of(names, d.id));
        json_opt_name(w, dev)?;
        w.write_char('}')?;
    }
    w.write_str("],\"volumes\":[")?;
    let mut first = true;
    for (i, ve) in c.vds.iter().enumerate() {
        if ve.guid == UNUSED_GUID {
            continue;
        }
        if !first {
            w.write_char(',')?;
        }
        first = false;
        write!(w, "{{\"index\":{i},\"guid\":")?;
        hex_guid(w, &ve.guid)?;
        w.write_str(",\"name\":")?;
        let len = ve
            .name
            .iter()
            .position(|&b| b == 0 || b == b' ')
            .unwrap_or(ve.name.len());
        json_str(w, ve.name.get(..len).unwrap_or(&[]))?;
        write!(
            w,
            ",\"unit\":{},\"state\":\"{}\",\"consistent\":{},\"morphing\":{},\"init_state\":\"{}\",\"access\":\"{}\",\"bvds\":[",
            ve.unit.get(),
            VD_STATE_JSON[usize::from(ve.state & 7)],
            ve.state & VD_NOT_CONSISTENT == 0,
            ve.state & VD_MORPHING != 0,
            INIT_JSON[usize::from(ve.init_state & INIT_STATE_MASK)],
            ACCESS_JSON[usize::from((ve.init_state >> 6) & 3)]
        )?;
        let count = c.volume(&ve.guid).map(|v| v.sec_count).unwrap_or(0);
        let mut firstb = true;
        for b in (0..count).filter_map(|k| c.bvd(&ve.guid, k)) {
            if !firstb {
                w.write_char(',')?;
            }
            firstb = false;
            write!(
                w,
                "{{\"secondary_position\":{},\"secondary_count\":{},\"sequence\":{},\"primary_level\":",
                b.bvd_index(),
                b.sec_count(),
                b.seq()
            )?;
            match level_name(b.fixed.prl) {
                Some(n) => write!(w, "\"{n}\"")?,
                None => write!(w, "\"0x{:02x}\"", b.fixed.prl)?,
            }
            write!(
                w,
                ",\"rlq\":{},\"secondary_level\":{},\"chunk_sectors\":",
                b.fixed.rlq, b.fixed.srl
            )?;
            if b.fixed.chunk_shift == 255 {
                w.write_str("null")?;
            } else {
                write!(w, "{}", 1u64 << (b.fixed.chunk_shift & 63))?;
            }
            write!(
                w,
                ",\"block_count\":{},\"array_size\":{},\"crc_ok\":{},\"members\":[",
                b.blocks(),
                b.fixed.array_blocks.get(),
                b.crc_ok
            )?;
            for (k, e) in b.members().enumerate() {
                if k != 0 {
                    w.write_char(',')?;
                }
                w.write_str("{\"pd_index\":")?;
                match c.pd_by_refnum(e.refnum) {
                    Some(p) => write!(w, "{p}")?,
                    None => w.write_str("null")?,
                }
                write!(w, ",\"refnum\":\"{:08x}\",\"lba\":{}}}", e.refnum, e.lba)?;
            }
            w.write_str("]}")?;
        }
        w.write_str("]}")?;
    }
    w.write_str("]}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        // 2026-11-25 20:11:38 UTC
        assert_eq!(civil(1_795_637_498), (2026, 11, 25, 20, 11, 38));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}

/// Why a member could not be examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExamineError {
    Load(super::LoadError),
    Format,
}

impl From<fmt::Error> for ExamineError {
    fn from(_: fmt::Error) -> Self {
        ExamineError::Format
    }
}

/// Output flavour of [`examine_member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExamineStyle {
    /// mdadm's text, preceded by nothing (the shell prints the "/dev/x:" line).
    Text {
        tz_offset: i64,
    },
    Json,
}

/// Examine one member disk as `mdadm --examine` does: load a container from that disk alone
/// (into the caller's `scratch`, which is overwritten) and render it.
pub fn examine_member<W: Write>(
    member: &super::MemberInput<'_>,
    device_name: Option<&str>,
    style: ExamineStyle,
    scratch: &mut Container,
    w: &mut W,
) -> Result<(), ExamineError> {
    let set = super::model::read_header_set(member)
        .map_err(|error| ExamineError::Load(super::LoadError::Member { index: 0, error }))?;
    scratch
        .load(core::slice::from_ref(member))
        .map_err(ExamineError::Load)?;
    let named;
    let names: DeviceNames<'_> = match device_name {
        Some(n) => {
            named = [(member.id, n)];
            &named
        }
        None => &[],
    };
    let redundant = set.secondary.is_ok();
    match style {
        ExamineStyle::Text { tz_offset } => examine_text(scratch, names, redundant, tz_offset, w)?,
        ExamineStyle::Json => examine_json(scratch, names, redundant, w)?,
    }
    Ok(())
}

/// Whether the last sector of `member` starts with the DDF header signature: the shell's
/// "is this DDF at all" probe before [`examine_member`] (which then reports damage).
pub fn has_anchor(member: &super::MemberInput<'_>) -> bool {
    let Some(start) = member.disk_bytes.checked_sub(512) else {
        return false;
    };
    let tail_start = member.disk_bytes.saturating_sub(member.tail.len() as u64);
    start
        .checked_sub(tail_start)
        .and_then(|o| usize::try_from(o).ok())
        .and_then(|o| member.tail.get(o..o.checked_add(4)?))
        .is_some_and(|m| m == HEADER_MAGIC.to_be_bytes())
}
