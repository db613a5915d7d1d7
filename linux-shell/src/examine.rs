//! `mdmon --examine [--json] DEVICE|IMAGE...`: print the external metadata of member disks or
//! disk images, the way `mdadm --examine` does, using the core's decoders.
//!
//! Each argument is read once: its size (BLKGETSIZE64 for block devices, the file length
//! otherwise), its logical sector size (BLKSSZGET, 512 for files) and its last 32 MiB. Then
//! every known format is asked in turn whether the bytes are its own ("detect, then
//! dispatch"): IMSM, then DDF (the entries of [`DECODERS`]).
//!
//! JSON output is one array with an element per argument:
//! `{"device": string, "format": "imsm"|"ddf"|null, "metadata": <format document>|null,
//!   "error": string|null}`; the documents are described in `mdmon_core::imsm::examine` and
//! `mdmon_core::ddf::examine` (both start with their `"format"` and `"family"`).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use mdmon_core::ddf::examine::{examine_member, examine_text, has_anchor, ExamineStyle};
use mdmon_core::ddf::{self, DiskId, MemberInput};
use mdmon_core::imsm::error::ParseError;
use mdmon_core::imsm::examine::Examined;

/// Bytes read from the end of each disk, enough for every format in one read:
/// - IMSM keeps its MPB and migration record in the last sectors, and mdadm never lets the
///   MPB grow past its 2210-sector reservation (1.1 MiB);
/// - DDF's primary and secondary copies sit in the last 32 MiB on every layout mdadm writes
///   (`mdmon_core::ddf`: the loader takes `disk[size - min(size, 32 MiB)..]`).
///
/// Reading 32 MiB once per argument is cheap next to a second open-and-read per format.
const TAIL_BYTES: u64 = 32 << 20;

nix::ioctl_read!(blk_get_size64, 0x12, 114, u64);
nix::ioctl_read_bad!(blk_ssz_get, 0x1268, libc::c_int);

/// What was read from one argument.
struct DiskTail {
    path: PathBuf,
    size: u64,
    sector_size: u32,
    region: Vec<u8>,
    serial: Option<[u8; 16]>,
    /// Name for DDF's "Device" column: the resolved `/dev` path of a block device (mdadm
    /// prints the kernel name through `map_dev`), or the path as given for an image file.
    name: String,
}

/// Outcome of one decoder on one disk.
enum Probe {
    /// Not this format (no signature).
    NotMine,
    /// This format; rendered text and JSON.
    Found { text: String, json: String },
    /// This format, but unreadable.
    Broken(String),
}

struct Decoder {
    format: &'static str,
    probe: fn(&DiskTail) -> Probe,
}

/// Every format `--examine` knows, in probing order.
const DECODERS: &[Decoder] = &[
    Decoder {
        format: "imsm",
        probe: probe_imsm,
    },
    Decoder {
        format: "ddf",
        probe: probe_ddf,
    },
];

fn probe_imsm(d: &DiskTail) -> Probe {
    match Examined::from_region(&d.region, d.size, d.sector_size, d.serial.as_ref()) {
        Ok(mut e) => {
            e.utc_offset = utc_offset_at(e.mpb.header.creation_time.get());
            let mut text = String::new();
            let mut json = String::new();
            // Writing into a String cannot fail.
            let _ = e.write_text(&mut text);
            let _ = e.write_json(&mut json);
            Probe::Found { text, json }
        }
        Err(ParseError::BadSignature) => Probe::NotMine,
        Err(ParseError::Truncated { .. }) | Err(ParseError::BadGeometry) if !has_imsm_anchor(d) => {
            Probe::NotMine
        }
        Err(e) => Probe::Broken(format!("IMSM metadata is damaged: {e}")),
    }
}

/// DDF: the anchor (last sector) decides; a disk that has one but does not load is reported
/// damaged rather than "not DDF".
fn probe_ddf(d: &DiskTail) -> Probe {
    let member = MemberInput {
        id: DiskId(0),
        disk_bytes: d.size,
        sector_size: d.sector_size,
        tail: &d.region,
    };
    if !has_anchor(&member) {
        return Probe::NotMine;
    }
    // ~340 KiB: on the heap, not on the caller's stack.
    let mut scratch = Box::new(ddf::Container::new());
    let mut json = String::new();
    if let Err(e) = examine_member(
        &member,
        Some(&d.name),
        ExamineStyle::Json,
        &mut scratch,
        &mut json,
    ) {
        return Probe::Broken(match e {
            ddf::examine::ExamineError::Load(e) => format!("DDF metadata is damaged: {e}"),
            ddf::examine::ExamineError::Format => "DDF metadata cannot be rendered".to_string(),
        });
    }
    // mdadm prints GUID times with localtime(); the core takes one offset, that of the
    // container's creation (GUID bytes 16–19, DDF time).
    let g = &scratch.header.guid;
    let created = u32::from_be_bytes([g[16], g[17], g[18], g[19]]);
    let tz = utc_offset_at(u64::from(created).saturating_add(ddf::DDF_EPOCH_OFFSET));
    // examine_member just read the same headers successfully.
    let redundant = ddf::model::read_header_set(&member).is_ok_and(|s| s.secondary.is_ok());
    let names = [(member.id, d.name.as_str())];
    let mut text = String::new();
    if examine_text(&scratch, &names, redundant, tz, &mut text).is_err() {
        return Probe::Broken("DDF metadata cannot be rendered".to_string());
    }
    Probe::Found { text, json }
}

/// The host zone's offset from UTC at instant `t` (mdadm prints creation times with
/// `ctime()`, i.e. in local time).
fn utc_offset_at(t: u64) -> i64 {
    // `time_t` is i64 on every 64-bit target (musl marks the alias deprecated).
    let Ok(t) = i64::try_from(t) else {
        return 0;
    };
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `t` and writes one `struct tm` into `tm`, both live
    // locals of the right types. (glibc initialises the zone from TZ on first use.)
    let converted = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if converted {
        tm.tm_gmtoff
    } else {
        0
    }
}

fn has_imsm_anchor(d: &DiskTail) -> bool {
    let lss = u64::from(d.sector_size);
    let sectors = d.size / lss.max(1);
    let Some(anchor) = sectors.checked_sub(2).map(|s| s * lss) else {
        return false;
    };
    let start = d.size - d.region.len() as u64;
    anchor
        .checked_sub(start)
        .and_then(|o| d.region.get(o as usize..o as usize + 24))
        .is_some_and(|s| s == mdmon_core::imsm::layout::MPB_SIGNATURE)
}

fn read_tail(path: &Path) -> io::Result<DiskTail> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let (size, sector_size) = if meta.file_type().is_block_device() {
        let mut size = 0u64;
        let mut ssz: libc::c_int = 0;
        // SAFETY: both ioctls write one integer of the declared type into the pointer we
        // pass, which points at a live local of exactly that type; the fd is open.
        unsafe {
            blk_get_size64(file.as_raw_fd(), &mut size).map_err(io::Error::from)?;
            blk_ssz_get(file.as_raw_fd(), &mut ssz).map_err(io::Error::from)?;
        }
        (size, u32::try_from(ssz).unwrap_or(512))
    } else {
        (meta.len(), 512)
    };
    let len = size.min(TAIL_BYTES);
    let mut region = vec![0u8; len as usize];
    file.read_exact_at(&mut region, size - len)?;
    let (serial, name) = if meta.file_type().is_block_device() {
        let name = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        (device_serial(path), name.display().to_string())
    } else {
        (None, path.display().to_string())
    };
    Ok(DiskTail {
        path: path.to_path_buf(),
        size,
        sector_size,
        region,
        serial,
        name,
    })
}

/// The serial IMSM would use for a block device (docs/imsm.md, "Disk serials"), from sysfs;
/// `None` when it cannot be determined (the examined disk is then not singled out).
fn device_serial(path: &Path) -> Option<[u8; 16]> {
    let real = std::fs::canonicalize(path).ok()?;
    // The daemon's own derivation, so examine shows the serial the daemon matches on.
    mdmon::runtime::imsm::disk_serial(real.file_name()?.to_str()?)
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Detect the format of one device or image and render it: (format, text, JSON document).
fn examine_one(path: &Path) -> Result<(&'static str, String, String), String> {
    let tail = read_tail(path).map_err(|e| format!("cannot read: {e}"))?;
    examine_tail(&tail)
}

/// The format dispatch over what [`read_tail`] read.
fn examine_tail(tail: &DiskTail) -> Result<(&'static str, String, String), String> {
    for d in DECODERS {
        match (d.probe)(tail) {
            Probe::NotMine => continue,
            Probe::Found { text, json } => return Ok((d.format, text, json)),
            Probe::Broken(msg) => return Err(msg),
        }
    }
    Err(format!(
        "no IMSM or DDF metadata found (last {} bytes of {} examined)",
        tail.region.len(),
        tail.path.display()
    ))
}

/// Entry point for `mdmon --examine ARGS...` (ARGS after `--examine`). Returns the exit code:
/// 0 when every argument held recognised metadata, 1 otherwise, 2 on usage errors.
pub fn run(args: &[OsString]) -> i32 {
    let json = args.iter().any(|a| a == "--json");
    let paths: Vec<&OsString> = args.iter().filter(|a| *a != "--json").collect();
    if paths.is_empty() || paths.iter().any(|p| p.to_string_lossy().starts_with("--")) {
        eprintln!("usage: mdmon --examine [--json] DEVICE|IMAGE...");
        return 2;
    }
    let mut status = 0;
    let mut docs = Vec::new();
    for p in paths {
        let path = Path::new(p);
        let shown = path.display().to_string();
        let result = examine_one(path);
        match result {
            Ok((format, text, doc)) => {
                if json {
                    docs.push(format!(
                        "{{\"device\":{},\"format\":\"{}\",\"metadata\":{},\"error\":null}}",
                        json_escape(&shown),
                        format,
                        doc
                    ));
                } else {
                    println!("{shown}:");
                    print!("{text}");
                }
            }
            Err(msg) => {
                status = 1;
                eprintln!("mdmon: {shown}: {msg}");
                if json {
                    docs.push(format!(
                        "{{\"device\":{},\"format\":null,\"metadata\":null,\"error\":{}}}",
                        json_escape(&shown),
                        json_escape(&msg)
                    ));
                }
            }
        }
    }
    if json {
        println!("[{}]", docs.join(","));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::examine_one;
    use mdmon::runtime::imsm::clean_serial;
    use mdmon_core::imsm::layout::{RawDev, RawDisk, RawMap, RawSuper, DISK_CONFIGURED};
    use mdmon_core::imsm::model::{Map, Mpb, Volume};
    use std::io::Write;

    /// A one-volume RAID1 image file of `size` bytes with its MPB at LBA N-2.
    fn image(size: u64) -> tempfile_path::TempPath {
        let mut header = RawSuper::zeroed();
        header.set_version(b"1.3.00");
        header.family_num.set(0x1234_5678);
        header.orig_family_num.set(0x1234_5678);
        header.generation_num.set(5);
        header.attributes.set(0x8000_0002);
        let mut mpb = Mpb {
            header,
            disks: Default::default(),
            volumes: Default::default(),
            bbm: Default::default(),
        };
        for serial in [b"DISK0001", b"DISK0002"] {
            let mut d = RawDisk::zeroed();
            d.serial[..8].copy_from_slice(serial);
            d.set_total_blocks(size / 512);
            d.status.set(DISK_CONFIGURED);
            mpb.disks.push(d).unwrap();
        }
        let mut dev = RawDev::zeroed();
        dev.volume[..4].copy_from_slice(b"vol0");
        dev.set_size(65536);
        let mut raw = RawMap::zeroed();
        raw.set_blocks_per_member(65536 + 2048);
        raw.set_num_data_stripes(256);
        raw.blocks_per_strip.set(128);
        raw.raid_level = 1;
        raw.num_members = 2;
        raw.num_domains = 2;
        raw.failed_disk_num = 0xff;
        let mut map0 = Map {
            raw,
            ords: Default::default(),
        };
        map0.ords.push(0).unwrap();
        map0.ords.push(1).unwrap();
        mpb.volumes
            .push(Volume {
                dev,
                map0,
                map1: None,
            })
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = mpb.encode(512, &mut buf).unwrap();
        let path = tempfile_path::TempPath::new("imsm");
        let mut f = std::fs::File::create(&path.0).unwrap();
        f.set_len(size).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&buf[..n], size - 1024).unwrap();
        f.flush().unwrap();
        path
    }

    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new(tag: &str) -> TempPath {
                let p = std::env::temp_dir()
                    .join(format!("mdmon-examine-{tag}-{}", std::process::id()));
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn image_file_is_detected_and_rendered() {
        let img = image(64 << 20);
        let (format, text, json) = examine_one(&img.0).unwrap();
        assert_eq!(format, "imsm");
        assert!(text.contains("         Family : 12345678\n"), "{text}");
        assert!(text.contains("[vol0]:\n"));
        assert!(text.contains("  Disk01 Serial : DISK0002\n"));
        assert!(json.starts_with("{\"format\":\"imsm\""));
        assert!(json.contains("\"generation\":5"));
    }

    #[test]
    fn non_imsm_file_is_an_error_naming_the_file() {
        let img = tempfile_path::TempPath::new("blank");
        std::fs::File::create(&img.0)
            .unwrap()
            .set_len(4 << 20)
            .unwrap();
        let err = examine_one(&img.0).unwrap_err();
        assert!(err.contains("no IMSM or DDF metadata"), "{err}");
        assert!(err.contains(&img.0.display().to_string()), "{err}");
        let err = examine_one(std::path::Path::new("/nonexistent/disk.img")).unwrap_err();
        assert!(err.starts_with("cannot read"), "{err}");
    }

    /// One disk of a DDF fixture captured by the rig: (name, size, region offset, region,
    /// what `mdadm --examine` printed).
    fn ddf_fixture_disks(moment: &str) -> Vec<(String, u64, u64, Vec<u8>, String)> {
        use std::io::Read;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/ddf")
            .join(moment);
        let Ok(info) = std::fs::read_to_string(dir.join("info.txt")) else {
            return Vec::new();
        };
        let mut disks = Vec::new();
        for line in info.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("disk") {
                continue;
            }
            let name = words.next().unwrap().to_string();
            let field = |key: &str| -> u64 {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            let (size, offset) = (field("size"), field("region_offset"));
            let gz = std::fs::File::open(dir.join(format!("{name}.region.gz"))).unwrap();
            let mut region = Vec::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut region)
                .unwrap();
            assert_eq!(region.len() as u64, size - offset);
            let examine = std::fs::read_to_string(dir.join(format!("examine-{name}.txt"))).unwrap();
            disks.push((name, size, offset, region, examine));
        }
        disks
    }

    /// Lines after the "/dev/x:" heading, without trailing blank lines.
    fn body(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text.lines().collect();
        if lines.first().is_some_and(|l| l.starts_with("/dev/")) {
            lines.remove(0);
        }
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        lines
    }

    #[test]
    fn ddf_fixture_image_examines_like_mdadm() {
        use std::os::unix::fs::FileExt;
        let mut compared = 0;
        for moment in ["02-volumes-resynced", "04-failed"] {
            for (name, size, offset, region, examine) in ddf_fixture_disks(moment) {
                // The region at the end of a sparse file of the disk's full size.
                let img = tempfile_path::TempPath::new(&format!("ddf-{moment}-{name}"));
                let f = std::fs::File::create(&img.0).unwrap();
                f.set_len(size).unwrap();
                f.write_all_at(&region, offset).unwrap();
                drop(f);

                let tail = super::read_tail(&img.0).unwrap();
                assert_eq!(tail.size, size);
                // Named as mdadm names the disk it examines.
                let tail = super::DiskTail {
                    name: format!("/dev/{name}"),
                    ..tail
                };
                let (format, text, json) = super::examine_tail(&tail).unwrap();
                assert_eq!(format, "ddf");
                let (want, got) = (body(&examine), body(&text));
                // The rig's guest ran in UTC; GUID times print in the host's zone.
                let utc_host = super::utc_offset_at(1_795_637_498) == 0;
                for (n, (w, g)) in want.iter().zip(got.iter()).enumerate() {
                    if !utc_host && w.contains("(Linux-MD ") {
                        continue;
                    }
                    assert_eq!(g, w, "{moment} {name} line {n}:\n{text}");
                }
                assert_eq!(got.len(), want.len(), "{moment} {name}:\n{text}");
                assert!(json.starts_with("{\"format\":\"ddf\",\"family\":\""));
                assert!(
                    json.contains(&format!("\"device\":\"/dev/{name}\"")),
                    "{json}"
                );

                // Through the command's own path: an image file is named as given.
                let (format, text, _) = examine_one(&img.0).unwrap();
                assert_eq!(format, "ddf");
                assert!(text.contains(&img.0.display().to_string()), "{text}");
                compared += 1;
            }
        }
        eprintln!("compared {compared} DDF examine outputs");
    }

    #[test]
    fn damaged_ddf_is_reported_not_skipped() {
        use std::os::unix::fs::FileExt;
        let Some((_, size, offset, mut region, _)) =
            ddf_fixture_disks("02-volumes-resynced").into_iter().next()
        else {
            return;
        };
        // Keep the anchor signature, break its CRC: DDF, but unreadable.
        let n = region.len();
        region[n - 512 + 100] ^= 0xff;
        let img = tempfile_path::TempPath::new("ddf-damaged");
        let f = std::fs::File::create(&img.0).unwrap();
        f.set_len(size).unwrap();
        f.write_all_at(&region, offset).unwrap();
        drop(f);
        let err = examine_one(&img.0).unwrap_err();
        assert!(err.starts_with("DDF metadata is damaged"), "{err}");
    }

    #[test]
    fn serial_cleanup_follows_imsm_rules() {
        assert_eq!(
            &clean_serial(b"  WD-1234:5 \n").unwrap()[..10],
            b"WD-1234;5\0"
        );
        let long = clean_serial(b"ABCDEFGHIJKLMNOPQRST").unwrap();
        assert_eq!(&long, b"EFGHIJKLMNOPQRST");
        assert!(clean_serial(b" \t").is_none());
    }
}
