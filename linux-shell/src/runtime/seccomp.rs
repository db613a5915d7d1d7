//! The monitor thread's seccomp filter: a hand-built classic-BPF allow list, installed by
//! the monitor thread itself just before it enters its audited entry symbol, for that
//! thread only (no TSYNC: the manager keeps opening, allocating and forking as it must).
//!
//! The list is what `cargo xtask audit` finds reachable from the entry symbols (it reads
//! the `audit:begin`..`audit:end` block below and fails if a reachable syscall is missing),
//! plus the calls the kernel makes the thread issue, which no disassembly shows
//! (`rt_sigreturn`, `restart_syscall`). The thread has no exit path to allow:
//! once finished it parks in `poll` until the manager ends the process (runtime/monitor.rs).
//!
//! Failure action: `SECCOMP_RET_KILL_PROCESS`. A syscall outside the list means the code
//! no longer matches what was audited; the alternatives are worse for an md monitor:
//! - `KILL_THREAD` leaves the manager answering mdadm's pings with no monitor behind it,
//!   so every write to the arrays waits forever while mdadm believes mdmon is alive;
//! - `ERRNO` lets the monitor carry on after a refused call it did not expect, e.g. a
//!   refused metadata write counted as a failed disk;
//! - `TRAP`/`LOG` need a handler or lose the point.
//!
//! Killing the process is loud (SIGSYS in the exit status, the kernel's audit log) and is
//! exactly what mdmon's successor logic expects: mdadm starts a new mdmon, which takes the
//! container over from the on-disk metadata.
//!
//! Escape hatch: `MDMON_NO_SECCOMP=1` in the daemon's environment skips the filter. It
//! exists because the list depends on the C library and the kernel of the build (musl's
//! `fstat` or `clock_gettime` fallbacks, for instance); a site that meets a kill after an
//! upgrade needs its arrays writable again at once, before a fixed build arrives. The
//! daemon logs when it runs without the filter.

/// `struct seccomp_data` offsets (linux/seccomp.h).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// x32 syscalls are x86_64 syscalls with this bit set: refuse them all.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// linux/filter.h opcodes.
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

// audit:begin
/// Syscalls the monitor thread may make. Keep this block in step with `cargo xtask audit`
/// (it checks that every syscall reachable from the entry symbols is here).
pub const ALLOWED: [libc::c_long; 18] = [
    // Found by the audit.
    libc::SYS_read,          // wake eventfd drain
    libc::SYS_write,         // wake eventfd signal
    libc::SYS_pread64,       // sysfs attributes
    libc::SYS_pwrite64,      // sysfs attributes, metadata (O_DIRECT)
    libc::SYS_poll,          // the wait
    libc::SYS_close,         // a removed member's sysfs fds
    libc::SYS_fstat,         // sysfs node still linked?
    libc::SYS_newfstatat,    // musl's fstat fallbacks (fstatat with AT_EMPTY_PATH)
    libc::SYS_fcntl,         // ... F_GETFD probe in that fallback
    libc::SYS_stat,          // ... /proc/self/fd path in that fallback
    libc::SYS_lstat,         // ... (same musl function)
    libc::SYS_clock_gettime, // vDSO fallback
    libc::SYS_gettimeofday,  // vDSO fallback (musl's clock_gettime, CLOCK_REALTIME)
    libc::SYS_io_submit,     // metadata writes through Linux AIO (the manager does io_setup)
    libc::SYS_io_getevents,  // their completions
    libc::SYS_fdatasync,     // cache flush before trusting metadata, without AIO
    // Beyond the audit's list: issued because the kernel says so, not by our code.
    libc::SYS_rt_sigreturn, // return from any signal handler that runs on this thread
    // The kernel resumes a poll with a timeout interrupted by SIGSTOP/SIGCONT (or a
    // ptrace stop) through restart_syscall; without it a stopped-and-continued mdmon
    // died of SIGSYS and left writes pending for good (rig scenario write-ordering).
    libc::SYS_restart_syscall,
];
// audit:end

/// Instructions in the program: arch check (2), number load and x32 check (2), one
/// comparison per allowed syscall, then the two returns.
pub const PROGRAM_LEN: usize = 4 + ALLOWED.len() + 2;

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: kill the process on a foreign architecture, an x32 call, or any syscall
/// not in [`ALLOWED`]; allow the rest.
pub const fn program() -> [libc::sock_filter; PROGRAM_LEN] {
    let n = ALLOWED.len();
    let kill = 4 + n;
    let allow = kill + 1;
    let mut p = [stmt(0, 0); PROGRAM_LEN];
    p[0] = stmt(BPF_LD_W_ABS, DATA_ARCH);
    p[1] = jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, (kill - 2) as u8);
    p[2] = stmt(BPF_LD_W_ABS, DATA_NR);
    p[3] = jump(BPF_JGE_K, X32_SYSCALL_BIT, (kill - 4) as u8, 0);
    let mut i = 0;
    while i < n {
        // Jump offsets count from the next instruction.
        p[4 + i] = jump(BPF_JEQ_K, ALLOWED[i] as u32, (allow - (5 + i)) as u8, 0);
        i += 1;
    }
    p[kill] = stmt(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS);
    p[allow] = stmt(BPF_RET_K, SECCOMP_RET_ALLOW);
    p
}

/// Why the filter is not in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotInstalled {
    /// `MDMON_NO_SECCOMP=1` asked for it.
    Disabled,
    /// The kernel refused (errno): no seccomp filter support, or no permission.
    Refused(i32),
}

/// Whether `MDMON_NO_SECCOMP=1` is set. musl's getenv scans `environ` in place: no
/// allocation on the monitor thread, even before its loop.
fn disabled_by_env() -> bool {
    // SAFETY: the name is a NUL-terminated literal; the result points into `environ`,
    // which nothing modifies once the daemon runs.
    let v = unsafe { libc::getenv(c"MDMON_NO_SECCOMP".as_ptr()) };
    // SAFETY: a non-null result is a NUL-terminated string.
    !v.is_null() && unsafe { core::ffi::CStr::from_ptr(v) }.to_bytes() == b"1"
}

/// Installs the filter on the calling thread only, unless the environment disables it.
pub fn install_for_monitor() -> Result<(), NotInstalled> {
    if disabled_by_env() {
        return Err(NotInstalled::Disabled);
    }
    install_on_this_thread()
}

/// Installs the filter on the calling thread (tests call this directly).
pub fn install_on_this_thread() -> Result<(), NotInstalled> {
    static PROGRAM: [libc::sock_filter; PROGRAM_LEN] = program();
    let fprog = libc::sock_fprog {
        len: PROGRAM_LEN as u16,
        filter: PROGRAM.as_ptr().cast_mut(),
    };
    // Required without CAP_SYS_ADMIN; as root it also keeps an exec (there is none on this
    // thread) from gaining privileges. Per thread, like the filter.
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(NotInstalled::Refused(errno()));
    }
    // Flags 0: this thread only. libc has no wrapper for seccomp(2) on musl.
    // SAFETY: `fprog` points to a valid program that outlives the call (the kernel copies it).
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(NotInstalled::Refused(errno()));
    }
    Ok(())
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_jumps_land_on_the_two_returns() {
        let p = program();
        let kill = PROGRAM_LEN - 2;
        let allow = PROGRAM_LEN - 1;
        assert_eq!(p[1].jf as usize + 2, kill);
        assert_eq!(p[3].jt as usize + 4, kill);
        for (i, nr) in ALLOWED.iter().enumerate() {
            let at = 4 + i;
            assert_eq!(p[at].jt as usize + at + 1, allow, "entry {i}");
            assert_eq!(p[at].jf, 0);
            assert_eq!(p[at].k as libc::c_long, *nr);
        }
        assert_eq!(p[kill].k, libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(p[allow].k, SECCOMP_RET_ALLOW);
    }

    #[test]
    fn the_allow_list_has_no_descriptor_creating_or_forking_syscalls() {
        for nr in [
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_socket,
            libc::SYS_mmap,
            libc::SYS_brk,
            libc::SYS_clone,
            libc::SYS_execve,
            libc::SYS_io_setup,
            libc::SYS_dup,
            libc::SYS_eventfd2,
        ] {
            assert!(!ALLOWED.contains(&nr), "{nr} must not be allowed");
        }
    }

    /// What `child_under_filter` reports when every allowed call went through.
    const SURVIVED: i32 = 42;

    /// Runs `child_under_filter` in a fresh process (the filter is for life) and returns
    /// how it ended.
    fn run_child(mode: &str) -> std::process::ExitStatus {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "runtime::seccomp::tests::child_under_filter",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env("MDMON_SECCOMP_TEST_CHILD", mode)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    }

    #[test]
    fn allowed_calls_pass_and_a_forbidden_one_kills_the_process() {
        use std::os::unix::process::ExitStatusExt;
        let ok = run_child("allowed");
        assert_eq!(ok.code(), Some(SURVIVED), "allowed syscalls only: {ok:?}");
        for forbidden in ["openat", "socket", "mmap"] {
            let killed = run_child(forbidden);
            assert_eq!(
                killed.signal(),
                Some(libc::SIGSYS),
                "{forbidden} from the filtered thread: {killed:?}"
            );
        }
    }

    /// Not a test of its own: the body of the child process above.
    #[test]
    #[ignore = "run by allowed_calls_pass_and_a_forbidden_one_kills_the_process"]
    fn child_under_filter() {
        use std::sync::atomic::{AtomicI32, Ordering};
        let Ok(mode) = std::env::var("MDMON_SECCOMP_TEST_CHILD") else {
            return;
        };
        // Everything the filtered thread needs is opened and allocated here, outside it.
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let path = c"/dev/null";
        static STATE: AtomicI32 = AtomicI32::new(0);
        let filtered = std::thread::spawn(move || {
            install_on_this_thread().expect("the kernel accepts the filter");
            let mut buf = [0u8; 64];
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: plain syscalls on locals and an fd this process owns.
            unsafe {
                assert!(libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) > 0);
                assert_eq!(libc::poll(core::ptr::null_mut(), 0, 0), 0);
                // What the kernel makes the thread call after a stop interrupted a poll.
                libc::syscall(libc::SYS_restart_syscall);
                libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &mut ts);
                let mut st: libc::stat = core::mem::zeroed();
                assert_eq!(libc::fstat(fd, &mut st), 0);
                match mode.as_str() {
                    "openat" => {
                        libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), 0);
                    }
                    "socket" => {
                        libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0);
                    }
                    "mmap" => {
                        libc::syscall(libc::SYS_mmap, 0, 4096, 3, 0x22, -1, 0);
                    }
                    _ => {}
                }
            }
            STATE.store(SURVIVED, Ordering::SeqCst);
            // Like the monitor, never exit the thread: thread exit needs calls outside
            // the list. The main thread ends the process.
            loop {
                // SAFETY: no fds; sleeps.
                unsafe { libc::poll(core::ptr::null_mut(), 0, -1) };
            }
        });
        drop(filtered);
        // The filtered thread either sets the state or takes the whole process down.
        for _ in 0..10_000 {
            if STATE.load(Ordering::SeqCst) != 0 {
                std::process::exit(STATE.load(Ordering::SeqCst));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::process::exit(1);
    }
}
