//! `rig-probe write`: timed O_DIRECT writes to a block device, one latency per write.
//!
//! Used to measure the first write after an array went clean (mdmon must record "dirty"
//! before the kernel lets it through), and the longest stall while writes keep coming (a
//! takeover, a failure). Every write goes to the same aligned block, so a run does not
//! depend on the device's size.

use crate::monotonic_us;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub const USAGE: &str = "\
  write DEV [--count N] [--seconds S] [--until-file F] [--interval-ms M] [--bytes B]
        [--offset B] [--each]
                           timed O_DIRECT+O_SYNC writes to DEV (default: 1 write of 4096
                           bytes at offset 0). Prints `write I START_US LAT_US` per write with
                           --each, then one summary line:
                           `writes=N errors=E first_us=F median_us=M max_us=X max_at_us=T`
                           (max_at_us: monotonic start of the slowest write). Exit 1 if any
                           write failed.
";

struct Options {
    dev: String,
    count: Option<u64>,
    seconds: Option<u64>,
    until_file: Option<String>,
    interval: Duration,
    bytes: usize,
    offset: u64,
    each: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut it = args.iter();
    let dev = it.next().ok_or("write needs a device")?.clone();
    let mut o = Options {
        dev,
        count: None,
        seconds: None,
        until_file: None,
        interval: Duration::ZERO,
        bytes: 4096,
        offset: 0,
        each: false,
    };
    let num = |v: Option<&String>, what: &str| -> Result<u64, String> {
        v.ok_or(format!("{what} needs a value"))?
            .parse()
            .map_err(|_| format!("{what}: not a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--count" => o.count = Some(num(it.next(), a)?),
            "--seconds" => o.seconds = Some(num(it.next(), a)?),
            "--until-file" => o.until_file = Some(it.next().ok_or("--until-file F")?.clone()),
            "--interval-ms" => o.interval = Duration::from_millis(num(it.next(), a)?),
            "--bytes" => o.bytes = num(it.next(), a)? as usize,
            "--offset" => o.offset = num(it.next(), a)?,
            "--each" => o.each = true,
            other => return Err(format!("unknown write option {other}")),
        }
    }
    if o.bytes == 0 || o.bytes % 512 != 0 || o.offset % 512 != 0 {
        return Err("--bytes and --offset must be multiples of 512".into());
    }
    if o.count.is_none() && o.seconds.is_none() && o.until_file.is_none() {
        o.count = Some(1);
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let path = std::ffi::CString::new(o.dev.as_str()).map_err(|_| "NUL in path")?;
    // SAFETY: `path` is a valid C string.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_DIRECT | libc::O_SYNC | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(format!("{}: {}", o.dev, std::io::Error::last_os_error()));
    }
    // SAFETY: freshly opened and owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let layout = std::alloc::Layout::from_size_align(o.bytes, 4096).map_err(|e| e.to_string())?;
    // SAFETY: non-zero size; freed below.
    let buf = unsafe { std::alloc::alloc_zeroed(layout) };
    if buf.is_null() {
        return Err("out of memory".into());
    }
    let started = monotonic_us();
    let mut lat: Vec<u64> = Vec::new();
    let (mut errors, mut max, mut max_at) = (0u64, 0u64, 0u64);
    loop {
        let done = o.count.is_some_and(|c| lat.len() as u64 + errors >= c)
            || o.seconds
                .is_some_and(|s| monotonic_us() - started >= s * 1_000_000)
            || o.until_file
                .as_ref()
                .is_some_and(|f| std::path::Path::new(f).exists());
        if done {
            break;
        }
        let t0 = monotonic_us();
        // SAFETY: `buf` holds `o.bytes` bytes.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), buf.cast(), o.bytes, o.offset as i64) };
        let dt = monotonic_us() - t0;
        if n != o.bytes as isize {
            errors += 1;
            eprintln!(
                "rig-probe: write at {t0} failed: {}",
                std::io::Error::last_os_error()
            );
        } else {
            lat.push(dt);
        }
        if dt > max {
            max = dt;
            max_at = t0;
        }
        if o.each {
            println!("write {} {t0} {dt}", lat.len() as u64 + errors - 1);
        }
        if !o.interval.is_zero() {
            std::thread::sleep(o.interval);
        }
    }
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(buf, layout) };
    let first = lat.first().copied().unwrap_or(0);
    let mut sorted = lat.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    println!(
        "writes={} errors={errors} first_us={first} median_us={median} max_us={max} max_at_us={max_at}",
        lat.len()
    );
    if errors > 0 {
        Err(format!("{errors} writes failed"))
    } else {
        Ok(())
    }
}
