//! The process life of mdmon (docs/process.md): starting for one container or for all
//! of them, the fork with its readiness pipe, the start steps that use the run-time files
//! and the predecessor (runfiles.rs), the `@` argv[0] marker, and the signal discipline.
//! What runs after that is behind the seam in service.rs.
//!
//! Signals: SIGTERM and SIGUSR1 are blocked before any thread exists (so every thread
//! inherits the mask) and are read from a signalfd in the manager's poll set. A SIGTERM
//! thus always reaches the manager, SIGUSR1 (upstream's thread wake-up, and the takeover
//! probe a successor sends) is harmless, and no signal handler runs at an arbitrary point.
//! SIGPIPE is ignored; the socket code also sends with MSG_NOSIGNAL.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType, UnixAddr};
use nix::unistd::{fork, ForkResult};

use crate::cli::{self, Options, Target};
use crate::control::ControlServer;
use crate::runfiles::{
    connect_without_waiting, make_control_socket, make_pid_file, ping, read_pid_file, read_up_to,
    run_dir, RunFiles, Victim, VICTIM_PING_TIMEOUT,
};
use crate::service;

/// Launcher exit status: a start step of the child failed (docs/process.md, "Start sequence",
/// steps 3–15).
pub const EXIT_START_FAILED: i32 = 3;

/// statfs magic numbers of the file systems an initramfs root lives on.
const TMPFS_MAGIC: u32 = 0x0102_1994;
const RAMFS_MAGIC: u32 = 0x8584_58f6;

/// Runs mdmon for a parsed command line; returns the process exit status.
pub fn main(args: &[OsString], options: Options) -> i32 {
    if options.offroot || in_initrd() {
        // Best effort: failing to mark ourselves only matters at shutdown.
        if let Err(e) = set_argv0_offroot() {
            let _ = writeln!(
                io::stderr(),
                "mdmon: cannot mark argv[0] with '@' for systemd: {e}"
            );
        }
    }
    match &options.target {
        Target::All => start_all(args, &options),
        Target::Container(name) => match cli::resolve_container(name) {
            Some(devnm) => start(&devnm, !options.foreground, options.takeover),
            None => {
                let _ = writeln!(
                    io::stderr(),
                    "mdmon: {} is not a valid md device name",
                    name.to_string_lossy()
                );
                cli::EXIT_BAD_ARGUMENT
            }
        },
    }
}

/// `--all` (docs/process.md, "All containers"): one forked daemon per container in
/// `/proc/mdstat`, in file order. The status is the OR of the launchers' statuses.
fn start_all(args: &[OsString], options: &Options) -> i32 {
    let text = match fs::read_to_string("/proc/mdstat") {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mdmon: cannot read /proc/mdstat: {e}");
            return 1;
        }
    };
    let mut status = 0;
    for devnm in service::containers(&text) {
        if let Some(index) = options.all_arg {
            // Cosmetic, so `ps` tells the instances apart: each child inherits its name.
            if let Err(e) = rewrite_arg(args, index, devnm.as_bytes()) {
                log!(devnm, "cannot show the container name in argv: {e}");
            }
        }
        status |= start(&devnm, true, options.takeover);
    }
    status
}

/// The start sequence for one container (docs/process.md, "Start sequence"). With `fork` the
/// function returns the launcher's status once the child is ready (0) or has failed; without,
/// it never returns on success.
pub fn start(devnm: &str, fork_child: bool, takeover: bool) -> i32 {
    // Step 1: the container must exist. Upstream opens its block device here; we need
    // nothing from the open, so sysfs is asked instead (works without a /dev node).
    if let Err(e) = fs::read_to_string(format!("/sys/block/{devnm}/dev")) {
        let _ = writeln!(io::stderr(), "mdmon: {devnm}: {e}");
        return 1;
    }
    let ready = if fork_child {
        match fork_with_ready_pipe(devnm) {
            Ok(Forked::Parent(status)) => return status,
            Ok(Forked::Child(pipe)) => Some(pipe),
            Err(e) => {
                log!(devnm, "{e}");
                return 1;
            }
        }
    } else {
        None
    };
    child(devnm, takeover, ready)
}

enum Forked {
    /// The launcher, with the status to exit with.
    Parent(i32),
    /// The daemon, with the pipe to report readiness through.
    Child(fs::File),
}

/// Step 2: fork; the parent waits for 4 bytes (a host-order i32 status) from the child, or
/// for the child's exit status if the child dies first.
fn fork_with_ready_pipe(devnm: &str) -> io::Result<Forked> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| io::Error::other(format!("failed to create pipe: {e}")))?;
    // SAFETY: the process is single-threaded here (no thread is started before the start
    // sequence forks), so the child may run arbitrary code.
    match unsafe { fork() } {
        Err(e) => Err(io::Error::other(format!("failed to fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop(read_end);
            Ok(Forked::Child(fs::File::from(write_end)))
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write_end);
            let mut status = [0u8; 4];
            let mut pipe = fs::File::from(read_end);
            let got = read_up_to(&mut pipe, &mut status);
            if got == 4 {
                return Ok(Forked::Parent(i32::from_ne_bytes(status)));
            }
            let code = match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code,
                Ok(other) => {
                    log!(devnm, "daemon ended without reporting: {other:?}");
                    1
                }
                Err(e) => {
                    log!(devnm, "cannot wait for the daemon: {e}");
                    1
                }
            };
            Ok(Forked::Parent(code))
        }
    }
}

/// Exits the child with `code`; the launcher learns it through the exit status. The
/// message is printed as upstream prints it (`mdmon: md126 is not a container - ...`), and
/// every message passed here names the container itself. In the daemon stderr is the
/// kernel log when mdadm gave us /dev/null (`stderr_to_kmsg`).
fn fail(code: i32, message: impl std::fmt::Display) -> ! {
    let _ = io::stderr().write_all(fail_line(message).as_bytes());
    std::process::exit(code);
}

/// The text `fail` writes: an OS error as `(errno N)`, as in the daemon's log lines (tools
/// scan the kernel log for the word "error"; `manager::log_line`).
fn fail_line(message: impl std::fmt::Display) -> String {
    format!("mdmon: {message}\n").replace("(os error ", "(errno ")
}

/// mdadm starts mdmon with stderr on /dev/null; then the kernel log is the one place an
/// admin (or an initramfs console) can still read what happened to which array, from the
/// first step on: why a start failed (a pid file that cannot be written, metadata that
/// does not load) as much as what the running daemon does.
fn stderr_to_kmsg() {
    let is_null = nix::sys::stat::fstat(2).is_ok_and(|st| {
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
    });
    if is_null {
        if let Ok(kmsg) = fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            // SAFETY: dup2 onto stderr; both descriptors are valid.
            unsafe { libc::dup2(kmsg.as_raw_fd(), 2) };
        }
    }
}

/// The daemon side of the start sequence (steps 3–21), then the seam.
fn child(devnm: &str, takeover: bool, ready: Option<fs::File>) -> ! {
    let forked = ready.is_some();
    stderr_to_kmsg();
    // Steps 3–7 and 12.
    let prepared = match service::prepare(devnm) {
        Ok(p) => p,
        Err(e) => fail(EXIT_START_FAILED, e),
    };
    // Step 8.
    let signals = match block_signals() {
        Ok(s) => s,
        Err(e) => fail(
            EXIT_START_FAILED,
            format!("{devnm}: cannot set up signals: {e}"),
        ),
    };
    let dir = run_dir();
    let files = RunFiles::new(&dir, devnm);
    // Step 9.
    let victim_pid = read_pid_file(&files.pid);
    let mut victim_sock = if victim_pid >= 0 {
        connect_without_waiting(&files.sock)
    } else {
        None
    };
    // Step 10 (the result does not matter: "/" always exists).
    let _ = std::env::set_current_dir("/");
    // Step 11.
    if !takeover && victim_pid > 0 {
        if let Some(sock) = victim_sock.take() {
            if ping(&sock, VICTIM_PING_TIMEOUT).is_ok() {
                fail(EXIT_START_FAILED, format!("{devnm} already managed"));
            }
            log!(
                devnm,
                "previous mdmon (pid {victim_pid}) does not answer; replacing it"
            );
        }
    }
    if let Err(e) = fs::DirBuilder::new().mode(0o755).create(&dir) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            log!(devnm, "cannot create {}: {e}", dir.display());
        }
    }
    // Step 14: a dead or unresponsive predecessor's files make way for ours (in a full /run
    // the space its pid file frees is the space ours needs). A pid file that cannot be
    // removed (a read-only /run) stops the start with that reason: step 15 would only say
    // that the file exists.
    if victim_pid > 0 {
        if let Err(e) = fs::remove_file(&files.pid) {
            if e.kind() != io::ErrorKind::NotFound {
                fail(
                    EXIT_START_FAILED,
                    format!(
                        "{devnm}: cannot replace pid file {}: {e}",
                        files.pid.display()
                    ),
                );
            }
        }
        let _ = fs::remove_file(&files.sock);
    }
    // Step 15.
    if let Err(e) = make_pid_file(&files.pid) {
        fail(
            EXIT_START_FAILED,
            format!(
                "{devnm}: cannot create pid file {}: {e}",
                files.pid.display()
            ),
        );
    }
    // Step 16: not fatal; mdmon then runs without a socket. A SIGTERM that already arrived
    // means a successor is taking over: do not create a socket it would find.
    let control = if sigterm_pending() {
        None
    } else {
        match make_control_socket(&files.sock) {
            Ok(l) => Some(ControlServer::new(l, devnm)),
            Err(e) => {
                log!(
                    devnm,
                    "cannot create control socket {}: {e}",
                    files.sock.display()
                );
                None
            }
        }
    };
    // Step 17: the launcher may exit 0 now.
    if let Some(mut pipe) = ready {
        if let Err(e) = pipe.write_all(&0i32.to_ne_bytes()) {
            log!(devnm, "failed to notify the launcher: {e}");
        }
    }
    if let Err(e) = sd_notify_ready() {
        log!(devnm, "cannot notify systemd: {e}");
    }
    // Step 18: the monitor must never wait for a page-in while arrays wait for it.
    // SAFETY: mlockall has no memory-safety preconditions.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        log!(devnm, "mlockall failed: {}", io::Error::last_os_error());
    }
    // Step 21 (before the seam; upstream does it after the takeover, which no observer can
    // tell apart). setsid fails harmlessly when we already lead a group (--foreground).
    let _ = nix::unistd::setsid();
    detach_stdio(devnm, forked);
    let victim = (victim_pid > 0).then(|| Victim {
        pid: victim_pid,
        sock: victim_sock,
    });
    service::run(service::RunContext {
        prepared,
        control,
        victim,
        signals,
        files,
    })
}

/// Blocks SIGTERM and SIGUSR1 (inherited by every thread started later), returns a
/// signalfd for them, and ignores SIGPIPE.
fn block_signals() -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGUSR1);
    set.thread_block()?;
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Whether a SIGTERM is waiting (it is blocked, so it stays pending until the signalfd
/// is read).
fn sigterm_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; sigismember only reads the set, which
    // is initialised once sigpending succeeded.
    unsafe {
        libc::sigpending(set.as_mut_ptr()) == 0
            && libc::sigismember(set.as_ptr(), libc::SIGTERM) == 1
    }
}

/// stdin and stdout go to /dev/null (nothing reads them; a terminal may vanish). stderr is kept
/// for our log lines, which journald or a console captures (docs/process.md, "Start sequence"),
/// except when we forked and it is a pipe: whoever reads that pipe (`x=$(mdmon md127 2>&1)`)
/// would wait for an EOF that never comes while the daemon runs. In the foreground the caller
/// waits for us anyway, so a pipe is kept there.
fn detach_stdio(devnm: &str, forked: bool) {
    let null = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        Ok(f) => f,
        Err(e) => {
            log!(devnm, "cannot open /dev/null: {e}");
            return;
        }
    };
    let stderr_is_pipe = nix::sys::stat::fstat(2)
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO)
        .unwrap_or(false);
    let mut targets = vec![0, 1];
    if forked && stderr_is_pipe {
        log!(devnm, "stderr is a pipe; further messages go to /dev/null");
        targets.push(2);
    }
    for fd in targets {
        // SAFETY: dup2 onto a standard descriptor; both descriptors are valid.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            log!(
                devnm,
                "cannot redirect fd {fd}: {}",
                io::Error::last_os_error()
            );
        }
    }
    // A pipe we just left for /dev/null: the kernel log instead.
    stderr_to_kmsg();
}

/// docs/process.md, "The @ mark": `statfs("/")` is tmpfs or ramfs (4.2's test) or
/// `/etc/initrd-release` exists (4.3+).
pub fn in_initrd() -> bool {
    if Path::new("/etc/initrd-release").exists() {
        return true;
    }
    match nix::sys::statfs::statfs("/") {
        // f_type is compared on 32 bits, as upstream does.
        Ok(s) => matches!(s.filesystem_type().0 as u32, TMPFS_MAGIC | RAMFS_MAGIC),
        Err(_) => false,
    }
}

/// The start of the process's argument area (`arg_start`, field 48 of /proc/self/stat).
fn arg_start() -> io::Result<u64> {
    let stat = fs::read("/proc/self/stat")?;
    // The command name (field 2) may contain spaces and parentheses: fields after it
    // start behind the last ')'.
    let after = stat
        .iter()
        .rposition(|&b| b == b')')
        .map(|p| &stat[p + 1..])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/self/stat: no ')'"))?;
    let field = after
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(48 - 3)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/self/stat: too short"))?;
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/self/stat: bad arg_start"))
}

/// Overwrites bytes of the original argv memory, where `ps` and systemd read the command
/// line, through /proc/self/mem (the kernel allows a process to write its own memory).
fn write_arg_area(offset: u64, bytes: &[u8]) -> io::Result<()> {
    let mem = fs::OpenOptions::new().write(true).open("/proc/self/mem")?;
    mem.write_all_at(bytes, arg_start()? + offset)
}

/// Makes argv[0] start with `@` (docs/process.md, "The @ mark") and checks that
/// /proc/self/cmdline shows it.
pub fn set_argv0_offroot() -> io::Result<()> {
    write_arg_area(0, b"@")?;
    let cmdline = fs::read("/proc/self/cmdline")?;
    if cmdline.first() == Some(&b'@') {
        Ok(())
    } else {
        Err(io::Error::other("/proc/self/cmdline does not show the '@'"))
    }
}

/// All mode: replaces argv element `index` with `name`, NUL-padded, if it fits
/// (docs/process.md, "All containers": up to the element's length, at most 32 bytes). A name
/// that does not fit puts the original text back, so a child never shows the previous child's
/// container (upstream leaves the previous name there).
fn rewrite_arg(args: &[OsString], index: usize, name: &[u8]) -> io::Result<()> {
    let Some(old) = args.get(index) else {
        return Ok(());
    };
    let old = old.as_bytes();
    let offset: usize = args[..index].iter().map(|a| a.as_bytes().len() + 1).sum();
    let mut bytes = vec![0u8; old.len()];
    if name.len() <= old.len().min(32) {
        bytes[..name.len()].copy_from_slice(name);
    } else {
        bytes.copy_from_slice(old);
    }
    write_arg_area(offset as u64, &bytes)
}

/// Tells systemd we are ready (`Type=notify`): one `READY=1` datagram to $NOTIFY_SOCKET,
/// a path or, with a leading `@`, an abstract socket name. No-op without the variable.
pub fn sd_notify_ready() -> io::Result<()> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    sd_notify(target.as_bytes(), b"READY=1")
}

fn sd_notify(target: &[u8], message: &[u8]) -> io::Result<()> {
    let addr = match target.strip_prefix(b"@") {
        Some(name) => UnixAddr::new_abstract(name)?,
        None => UnixAddr::new(target)?,
    };
    let fd: OwnedFd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    nix::sys::socket::sendto(
        fd.as_raw_fd(),
        message,
        &addr,
        nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfiles::tests::temp_dir;
    #[test]
    fn a_start_failure_names_the_path_and_the_errno() {
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(
            fail_line(format_args!(
                "md127: cannot create pid file /run/mdadm/md127.pid: {e}"
            )),
            "mdmon: md127: cannot create pid file /run/mdadm/md127.pid: No space left on device (errno 28)\n"
        );
    }

    #[test]
    fn sd_notify_sends_one_datagram_to_a_path_or_abstract_name() {
        use std::os::linux::net::SocketAddrExt;
        let dir = temp_dir("notify");
        let path = dir.join("notify");
        let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sd_notify(path.as_os_str().as_bytes(), b"READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("mdmon-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        sd_notify(format!("@{name}").as_bytes(), b"READY=1").unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        assert!(sd_notify(dir.join("absent").as_os_str().as_bytes(), b"READY=1").is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    /// Both argv rewrites in one test: they share this process's argv memory.
    #[test]
    fn argv_area_rewrites_show_in_proc_cmdline() {
        let original = fs::read("/proc/self/cmdline").unwrap();
        let first = original[0];
        set_argv0_offroot().unwrap();
        let now = fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(now[0], b'@');
        assert_eq!(&now[1..], &original[1..]);

        let args: Vec<OsString> = std::env::args_os().collect();
        let argv0_len = args[0].as_bytes().len();
        rewrite_arg(&args, 0, b"x").unwrap();
        let now = fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(&now[..2], b"x\0");
        // Too long for the element: the original text comes back (with its '@').
        let too_long = vec![b'y'; argv0_len + 1];
        rewrite_arg(&args, 0, &too_long).unwrap();
        let now = fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(&now[..argv0_len], args[0].as_bytes());
        // Restore argv[0] for whoever reads it later.
        write_arg_area(0, &original[..argv0_len]).unwrap();
        let now = fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(now, original);
        assert_eq!(now[0], first);
    }
}
