//! `rig-probe churn` / `churn-verify`: a writer whose acknowledged writes can be checked
//! after a power cut.
//!
//! `churn` writes 4 KiB blocks round-robin over the devices (write `i` goes to device
//! `i % D`, block `(i / D) % N`), each O_DIRECT|O_SYNC, with contents derived from `i`, the
//! device and the block. After each write has returned it records `i` in the first sector
//! of LOG (O_DIRECT|O_SYNC, one sector: atomic). So at a cut, LOG names the last write that
//! had returned, and at most the next one may have landed beyond it.
//!
//! `churn-verify` reads LOG's `S` and checks every block of every device: it must hold the
//! newest write to that place with `i <= S`, or write `S + 1` if that one went there (it
//! may have landed before the cut without being logged), or, for a place no write `<= S`
//! reached, nothing of ours or write `S + 1`. Anything else is an acknowledged write lost.

use crate::monotonic_us;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub const USAGE: &str = "\
  churn LOG DEV... [--blocks N] [--interval-ms M] [--seconds S] [--resume]
                           round-robin O_DIRECT+O_SYNC 4 KiB writes over the DEVs (N blocks
                           each, default 64), the last returned write's number kept in LOG's
                           first sector; prints `churn writes=W errors=E` at the end (never,
                           when the power is cut); --resume goes on after the write LOG
                           names (after a cut), so one LOG spans several boots
  churn-verify LOG DEV... [--blocks N]
                           after a cut: every acknowledged write is on its DEV; prints
                           `churn-verify acked=S checked=B lost=L` and each loss; exit 1 on any
";

const BLOCK: usize = 4096;
const LOG_MAGIC: &[u8; 8] = b"RIGCHLOG";
const DATA_MAGIC: &[u8; 8] = b"RIGCHURN";

struct Args {
    log: String,
    devs: Vec<String>,
    blocks: u64,
    interval: Duration,
    seconds: Option<u64>,
    resume: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        log: String::new(),
        devs: Vec::new(),
        blocks: 64,
        interval: Duration::ZERO,
        seconds: None,
        resume: false,
    };
    let mut it = args.iter();
    let num = |v: Option<&String>, what: &str| -> Result<u64, String> {
        v.ok_or(format!("{what} needs a value"))?
            .parse()
            .map_err(|_| format!("{what}: not a number"))
    };
    while let Some(x) = it.next() {
        match x.as_str() {
            "--blocks" => a.blocks = num(it.next(), x)?.max(1),
            "--interval-ms" => a.interval = Duration::from_millis(num(it.next(), x)?),
            "--seconds" => a.seconds = Some(num(it.next(), x)?),
            "--resume" => a.resume = true,
            p if a.log.is_empty() => a.log = p.to_string(),
            p => a.devs.push(p.to_string()),
        }
    }
    if a.log.is_empty() || a.devs.is_empty() {
        return Err("churn needs LOG and at least one DEV".into());
    }
    Ok(a)
}

/// A 4096-aligned buffer (O_DIRECT).
struct Aligned {
    ptr: *mut u8,
}

impl Aligned {
    fn new() -> Result<Self, String> {
        let mut p: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: posix_memalign writes one pointer; the size and alignment are valid.
        if unsafe { libc::posix_memalign(&mut p, BLOCK, BLOCK) } != 0 {
            return Err("posix_memalign failed".into());
        }
        Ok(Aligned { ptr: p.cast() })
    }
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` owns BLOCK bytes for the buffer's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, BLOCK) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated by posix_memalign, freed once.
        unsafe { libc::free(self.ptr.cast()) };
    }
}

fn open(path: &str, write: bool) -> Result<OwnedFd, String> {
    let c = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
    let flags = libc::O_DIRECT
        | if write {
            libc::O_RDWR | libc::O_SYNC
        } else {
            libc::O_RDONLY
        };
    // SAFETY: a valid C string; the fd is owned from here on.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(format!("{path}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pwrite(fd: &OwnedFd, buf: &[u8], off: u64) -> bool {
    // SAFETY: `buf` is valid for its length.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), off as i64) };
    n == buf.len() as isize
}

fn pread(fd: &OwnedFd, buf: &mut [u8], off: u64) -> bool {
    // SAFETY: `buf` is valid for its length.
    let n = unsafe {
        libc::pread(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            off as i64,
        )
    };
    n == buf.len() as isize
}

/// The contents of write `i` to block `block` of device `dev`.
fn fill(buf: &mut [u8], i: u64, dev: u64, block: u64) {
    buf[..8].copy_from_slice(DATA_MAGIC);
    buf[8..16].copy_from_slice(&i.to_le_bytes());
    buf[16..24].copy_from_slice(&dev.to_le_bytes());
    buf[24..32].copy_from_slice(&block.to_le_bytes());
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (dev << 32) ^ block;
    for chunk in buf[32..].chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
}

fn place(i: u64, devs: u64, blocks: u64) -> (u64, u64) {
    (i % devs, (i / devs) % blocks)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse(args)?;
    let log = open(&a.log, true)?;
    let devs: Vec<OwnedFd> = a
        .devs
        .iter()
        .map(|d| open(d, true))
        .collect::<Result<_, _>>()?;
    let nd = devs.len() as u64;
    let mut data = Aligned::new()?;
    let mut rec = Aligned::new()?;
    let start = monotonic_us();
    let (mut writes, mut errors) = (0u64, 0u64);
    let mut i = if a.resume {
        first_after(read_acked(&log, &a.log)?)
    } else {
        0
    };
    if a.resume {
        println!("churn resumes at write {i}");
    }
    loop {
        if let Some(s) = a.seconds {
            if monotonic_us() - start >= s * 1_000_000 {
                break;
            }
        }
        let (d, b) = place(i, nd, a.blocks);
        fill(data.bytes(), i, d, b);
        if pwrite(&devs[d as usize], data.bytes(), b * BLOCK as u64) {
            writes += 1;
            let r = rec.bytes();
            r.fill(0);
            r[..8].copy_from_slice(LOG_MAGIC);
            r[8..16].copy_from_slice(&i.to_le_bytes());
            if !pwrite(&log, &r[..BLOCK], 0) {
                return Err(format!("log write {i} failed"));
            }
        } else {
            errors += 1;
            eprintln!(
                "churn: write {i} to {} block {b} failed: {}",
                a.devs[d as usize],
                std::io::Error::last_os_error()
            );
        }
        i += 1;
        if !a.interval.is_zero() {
            std::thread::sleep(a.interval);
        }
    }
    println!("churn writes={writes} errors={errors}");
    if errors > 0 {
        return Err(format!("{errors} writes failed"));
    }
    Ok(())
}

/// The last acknowledged write LOG names, if any.
fn read_acked(log: &OwnedFd, name: &str) -> Result<Option<u64>, String> {
    let mut buf = Aligned::new()?;
    if !pread(log, buf.bytes(), 0) {
        return Err(format!("{name}: cannot read"));
    }
    let r = buf.bytes();
    Ok((&r[..8] == LOG_MAGIC).then(|| u64::from_le_bytes(r[8..16].try_into().unwrap_or_default())))
}

/// Where a resumed churn starts: at the write after the last acknowledged one. That write
/// may have landed before the cut; writing it again puts the same contents in the same
/// place, so the verifier's model (every write up to the acknowledged one, maybe the next)
/// holds across boots.
fn first_after(acked: Option<u64>) -> u64 {
    acked.map_or(0, |s| s + 1)
}

pub fn verify(args: &[String]) -> Result<(), String> {
    let a = parse(args)?;
    let log = open(&a.log, false)?;
    let devs: Vec<OwnedFd> = a
        .devs
        .iter()
        .map(|d| open(d, false))
        .collect::<Result<_, _>>()?;
    let nd = devs.len() as u64;
    let mut buf = Aligned::new()?;
    let acked = read_acked(&log, &a.log)?;
    let mut want = Aligned::new()?;
    let (mut checked, mut lost) = (0u64, 0u64);
    for d in 0..nd {
        for b in 0..a.blocks {
            checked += 1;
            // The newest write <= acked to this place: i = d + nd * (b + k * blocks).
            let newest = acked.and_then(|s| {
                let first = d + nd * b;
                (first <= s).then(|| {
                    let period = nd * a.blocks;
                    first + (s - first) / period * period
                })
            });
            let next = first_after(acked);
            let may_be_next = place(next, nd, a.blocks) == (d, b);
            if !pread(&devs[d as usize], buf.bytes(), b * BLOCK as u64) {
                println!("lost: {} block {b}: unreadable", a.devs[d as usize]);
                lost += 1;
                continue;
            }
            let got = buf.bytes();
            let ok = |i: u64, want: &mut Aligned| {
                fill(want.bytes(), i, d, b);
                got == want.bytes()
            };
            let fine = match newest {
                Some(i) => ok(i, &mut want) || (may_be_next && ok(next, &mut want)),
                None => &got[..8] != DATA_MAGIC || (may_be_next && ok(next, &mut want)),
            };
            if !fine {
                lost += 1;
                let seen = if &got[..8] == DATA_MAGIC {
                    format!(
                        "write {}",
                        u64::from_le_bytes(got[8..16].try_into().unwrap_or_default())
                    )
                } else {
                    "no churn data".to_string()
                };
                println!(
                    "lost: {} block {b}: expected write {newest:?}{}, found {seen}",
                    a.devs[d as usize],
                    if may_be_next {
                        format!(" or {next}")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    println!(
        "churn-verify acked={} checked={checked} lost={lost}",
        acked.map_or("none".to_string(), |s| s.to_string())
    );
    if lost > 0 {
        return Err(format!("{lost} acknowledged writes lost"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_cycle_over_devices_then_blocks() {
        assert_eq!(place(0, 2, 3), (0, 0));
        assert_eq!(place(1, 2, 3), (1, 0));
        assert_eq!(place(2, 2, 3), (0, 1));
        assert_eq!(place(6, 2, 3), (0, 0));
    }

    #[test]
    fn a_resumed_churn_rewrites_the_write_after_the_last_acknowledged_one() {
        assert_eq!(first_after(None), 0);
        assert_eq!(first_after(Some(41)), 42);
        // the same write number means the same place and the same contents
        let (mut a, mut b) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
        let (d, blk) = place(42, 2, 64);
        fill(&mut a, 42, d, blk);
        fill(&mut b, 42, d, blk);
        assert_eq!(a, b);
    }

    #[test]
    fn contents_differ_between_writes_and_places() {
        let (mut a, mut b) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
        fill(&mut a, 5, 1, 2);
        fill(&mut b, 7, 1, 2);
        assert_ne!(a, b);
        fill(&mut b, 5, 0, 2);
        assert_ne!(a, b);
    }
}
