//! `rig-probe`: a small static tool the rig puts into the guest (`/usr/bin/rig-probe`) for
//! what busybox cannot do: clocks with microsecond resolution, timed O_DIRECT writes, and a
//! raw client for mdmon's control socket. Scenarios call it; its output is plain lines that
//! the scenario or `cargo xtask` parses.
//!
//! One subcommand per module; each prints its own usage on bad arguments.

mod churn;
mod sock;
mod write;

use std::process::ExitCode;

const USAGE: &str = "\
usage: rig-probe <command> [args]
  now                      CLOCK_MONOTONIC in microseconds
  hold DEV FILE            opens DEV with O_EXCL (as mdadm does while it stops or creates a
                           container: mdmon then stays), prints `held DEV`, and keeps it open
                           until FILE exists
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let result: Result<(), String> = match args.first().map(String::as_str) {
        Some("write") => write::run(rest),
        Some("sock") => sock::run(rest),
        Some("churn") => churn::run(rest),
        Some("churn-verify") => churn::verify(rest),
        Some("hold") => hold(rest),
        Some("now") => {
            println!("{}", monotonic_us());
            Ok(())
        }
        _ => {
            eprint!("{USAGE}{}{}{}", write::USAGE, sock::USAGE, churn::USAGE);
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rig-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `hold DEV FILE`: DEV open O_RDONLY|O_EXCL until FILE exists.
fn hold(args: &[String]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let [dev, until] = args else {
        return Err("hold DEV FILE".into());
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(dev)
        .map_err(|e| format!("{dev}: {e}"))?;
    println!("held {dev}");
    while !std::path::Path::new(until).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(f);
    Ok(())
}

/// CLOCK_MONOTONIC in microseconds (the guest's clock for every latency the rig reports).
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1000
}
