//! The process life of mdmon (docs/process.md): starting for one container or for all
//! of them, the fork with its readiness pipe, the run-time files, the `@` argv[0] marker,
//! detecting and replacing a previous instance, and the signal discipline. What runs after
//! that is behind the seam in service.rs.
//!
//! Signals: SIGTERM and SIGUSR1 are blocked before any thread exists (so every thread
//! inherits the mask) and are read from a signalfd in the manager's poll set. A SIGTERM
//! thus always reaches the manager, SIGUSR1 (upstream's thread wake-up, and the takeover
//! probe a successor sends) is harmless, and no signal handler runs at an arbitrary point.
//! SIGPIPE is ignored; the socket code also sends with MSG_NOSIGNAL.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mdmon_core::protocol;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use nix::unistd::{fork, ForkResult, Pid};

use crate::cli::{self, Options, Target};
use crate::control::ControlServer;
use crate::service;

/// Where mdadm looks for our pid file and socket (its compile-time `MDMON_DIR`).
const RUN_DIR: &str = "/run/mdadm";

/// Test-only override of [`RUN_DIR`]: mdadm never reads it, so a daemon started with it
/// is invisible to mdadm. Exists so tests can run without touching `/run/mdadm`.
const RUN_DIR_ENV: &str = "MDMON_RUN_DIR";

/// Launcher exit status: a start step of the child failed (docs/process.md, "Start sequence",
/// steps 3–15).
pub const EXIT_START_FAILED: i32 = 3;

/// How long a previous instance may take to answer the "already managed" ping; mdadm's own
/// client timeouts (msg.c `fping_monitor()`).
const VICTIM_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Takeover: SIGUSR1 probes after SIGTERM, 200 ms apart.
const VICTIM_PROBE_INTERVAL: Duration = Duration::from_millis(200);
/// How often the takeover looks whether the victim has exited, between probes.
const VICTIM_EXIT_POLL: Duration = Duration::from_millis(5);
/// How long a predecessor has from our SIGTERM to leave on its own (closing our connection
/// and exiting) before it is killed. Upstream waits for the socket with no bound and then
/// probes for 5 s; a live predecessor under write load leaves within about 5 s (rig
/// root-on-raid), one that is stopped or hung never does.
#[cfg(not(test))]
const VICTIM_EXIT_LIMIT: Duration = Duration::from_secs(10);
#[cfg(test)]
const VICTIM_EXIT_LIMIT: Duration = Duration::from_secs(1);
/// After SIGKILL: how often the wait for the exit is logged (it is not cut short: no
/// metadata of ours is written while a predecessor may still be writing).
const VICTIM_KILL_NOTE: Duration = Duration::from_secs(10);

/// Whether `pid` has exited: no such process, or a zombie its parent has not reaped yet
/// (it no longer runs any mdmon code).
fn process_gone(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return true;
    }
    // `/proc/<pid>/stat`: "pid (comm) S ..."; comm may hold spaces, so read after the ')'.
    fs::read(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        let state = stat
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| stat.get(i + 2).copied());
        state == Some(b'Z') || state == Some(b'X')
    })
}

/// statfs magic numbers of the file systems an initramfs root lives on.
const TMPFS_MAGIC: u32 = 0x0102_1994;
const RAMFS_MAGIC: u32 = 0x8584_58f6;

/// The run-time directory in use.
pub fn run_dir() -> PathBuf {
    match std::env::var_os(RUN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(RUN_DIR),
    }
}

/// The pid file and socket path of one container.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub pid: PathBuf,
    pub sock: PathBuf,
}

impl RunFiles {
    pub fn new(dir: &Path, devnm: &str) -> Self {
        Self {
            pid: dir.join(format!("{devnm}.pid")),
            sock: dir.join(format!("{devnm}.sock")),
        }
    }

    /// Removes both files on a normal exit (a SIGTERM exit leaves them to the successor).
    /// Only while the pid file still names this process: a successor that took over in
    /// the meantime has replaced both files with its own, and they are not ours to delete.
    pub fn remove(&self, devnm: &str) {
        let owner = read_pid_file(&self.pid);
        if owner > 0 && owner != std::process::id() as i32 {
            log!(
                devnm,
                "{} now belongs to pid {owner}; leaving it and {} in place",
                self.pid.display(),
                self.sock.display()
            );
            return;
        }
        for p in [&self.pid, &self.sock] {
            if let Err(e) = fs::remove_file(p) {
                if e.kind() != io::ErrorKind::NotFound {
                    log!(devnm, "cannot remove {}: {e}", p.display());
                }
            }
        }
    }
}

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

fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done
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

/// The pid in a pid file as mdadm reads it (util.c `mdmon_pid()`): at most 9 bytes through
/// `atoi`; −1 when the file is missing or unreadable, 0 for garbage.
pub fn read_pid_file(path: &Path) -> i32 {
    let mut f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
        .or_else(|_| fs::File::open(path))
    {
        Ok(f) => f,
        Err(_) => return -1,
    };
    let mut buf = [0u8; 9];
    let n = read_up_to(&mut f, &mut buf);
    if n == 0 {
        return -1;
    }
    atoi(&buf[..n])
}

/// C `atoi`: leading white space, an optional sign, then digits; anything else ends it.
fn atoi(text: &[u8]) -> i32 {
    let mut i = 0;
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let negative = match text.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    while let Some(d) = text.get(i).filter(|d| d.is_ascii_digit()) {
        value = (value * 10 + i64::from(d - b'0')).min(i64::from(i32::MAX) + 1);
        i += 1;
    }
    let value = if negative { -value } else { value };
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Creates the pid file exclusively, mode 0600, holding `<pid>\n` (docs/process.md, "Run-time files").
/// A file whose content could not be written (a full /run) is removed: an empty pid file
/// reads as no mdmon for mdadm, and no later start removes it (step 15 fails on it).
pub fn make_pid_file(path: &Path) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{}\n", std::process::id()).as_bytes())
        .inspect_err(|_| {
            let _ = fs::remove_file(path);
        })
}

/// Creates the listening control socket (docs/process.md, "Run-time files"): old file unlinked,
/// umask 077 (kept for the life of the process, as upstream), bound, backlog 10, non-blocking,
/// close-on-exec.
pub fn make_control_socket(path: &Path) -> io::Result<UnixListener> {
    let _ = fs::remove_file(path);
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    listen(&fd, Backlog::new(10)?)?;
    Ok(UnixListener::from(fd))
}

/// Connects to a predecessor's socket without blocking: a stopped or hung predecessor whose
/// listen backlog is full would otherwise hold the connect for good. `None` when it does
/// not take the connection at once (the takeover then does without waiting for its close).
fn connect_without_waiting(path: &Path) -> Option<UnixStream> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    nix::sys::socket::connect(fd.as_raw_fd(), &UnixAddr::new(path).ok()?).ok()?;
    let sock = UnixStream::from(fd);
    sock.set_nonblocking(false).ok()?;
    Some(sock)
}

/// Sends one ping frame and waits for any complete reply frame (msg.c `fping_monitor()`).
pub fn ping(sock: &UnixStream, timeout: Duration) -> io::Result<()> {
    sock.set_write_timeout(Some(timeout))?;
    sock.set_read_timeout(Some(timeout))?;
    let mut s = sock;
    s.write_all(&protocol::PING_MONITOR)?;
    let mut header = [0u8; protocol::HEADER_LEN];
    s.read_exact(&mut header)?;
    let request = protocol::decode_header(&header)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut rest = vec![0u8; request.payload_len() + protocol::TRAILER_LEN];
    s.read_exact(&mut rest)?;
    let mut trailer = [0u8; protocol::TRAILER_LEN];
    trailer.copy_from_slice(&rest[request.payload_len()..]);
    protocol::check_end(&trailer)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// A previous mdmon of the same container, to be replaced (docs/process.md, "Taking over").
#[derive(Debug)]
pub struct Victim {
    pub pid: i32,
    /// Our connection to its socket (takeover mode): its EOF tells us it let go.
    pub sock: Option<UnixStream>,
}

impl Victim {
    /// Stops the previous instance (docs/threads.md, "Taking over from a predecessor"),
    /// every wait bounded: SIGTERM, then up to [`VICTIM_EXIT_LIMIT`] for it to close our
    /// connection and exit (SIGUSR1 probes 200 ms apart, as upstream); one that has not left by then (stopped, hung) is killed with
    /// SIGKILL. Returns only once it has exited: our monitor gets the arrays, and so writes
    /// metadata, only after this. The process is addressed through a pidfd opened before
    /// its command line is checked, so a pid reused by another process is never signalled.
    /// Call only once our own threads run, so there is never a moment without an mdmon.
    pub fn terminate(self, devnm: &str) {
        if self.pid <= 0 || self.pid == std::process::id() as i32 {
            return;
        }
        let Some(target) = VictimProcess::open(self.pid) else {
            // Gone already (the usual case after a crash or a SIGTERM exit).
            return;
        };
        let Ok(cmdline) = fs::read(format!("/proc/{}/cmdline", self.pid)) else {
            return;
        };
        // The pidfd was opened before the read: if it still runs, the text was its own.
        if target.gone() {
            return;
        }
        if !is_mdmon_of(&cmdline, devnm, cli::resolve_container) {
            log!(
                devnm,
                "pid {} from the pid file is not an mdmon of {devnm} ({}); leaving it alone",
                self.pid,
                String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .trim_end()
            );
            return;
        }
        log!(devnm, "taking over from mdmon pid {}", self.pid);
        if let Err(e) = target.signal(Signal::SIGTERM) {
            log!(devnm, "cannot signal pid {}: {e}", self.pid);
            return;
        }
        let deadline = std::time::Instant::now() + VICTIM_EXIT_LIMIT;
        if let Some(sock) = self.sock {
            // Upstream's wait: the victim closes our connection when it drops idle clients
            // (3 s) or exits. Bounded here: a stopped victim never closes it.
            wait_for_eof(&sock, deadline, &target);
        }
        // Upstream's SIGUSR1 probes 200 ms apart wake the victim's threads; between them,
        // look every few ms whether it is gone. Our manager discovers the arrays only after
        // this returns, and writes the victim left write-pending wait for that: noticing
        // its exit up to 200 ms late was most of a takeover's write stall.
        // The log line dates the hand-over: writes left write-pending wait from the
        // victim's exit until our first discovery pass (the takeover-load scenario's stall).
        while std::time::Instant::now() < deadline {
            if target.signal(Signal::SIGUSR1).is_err() || target.gone() {
                log!(devnm, "previous mdmon pid {} has exited", self.pid);
                return;
            }
            let mut waited = Duration::ZERO;
            while waited < VICTIM_PROBE_INTERVAL && std::time::Instant::now() < deadline {
                std::thread::sleep(VICTIM_EXIT_POLL);
                waited += VICTIM_EXIT_POLL;
                if target.gone() {
                    log!(devnm, "previous mdmon pid {} has exited", self.pid);
                    return;
                }
            }
        }
        log!(
            devnm,
            "previous mdmon pid {} did not exit within {} s of SIGTERM (stopped or hung); killing it",
            self.pid,
            VICTIM_EXIT_LIMIT.as_secs_f32()
        );
        if let Err(e) = target.signal(Signal::SIGKILL) {
            log!(devnm, "cannot kill pid {}: {e}", self.pid);
        }
        let start = std::time::Instant::now();
        let mut next_note = VICTIM_KILL_NOTE;
        while !target.gone() {
            std::thread::sleep(VICTIM_EXIT_POLL);
            if start.elapsed() >= next_note {
                log!(
                    devnm,
                    "killed mdmon pid {} has not exited after {:?}; still waiting before touching the metadata",
                    self.pid,
                    start.elapsed()
                );
                next_note += VICTIM_KILL_NOTE;
            }
        }
        log!(
            devnm,
            "previous mdmon pid {} was killed and has exited",
            self.pid
        );
    }
}

/// Reads (and discards) from the predecessor's socket until EOF, an error, its exit, or
/// `deadline`.
fn wait_for_eof(sock: &UnixStream, deadline: std::time::Instant, target: &VictimProcess) {
    let _ = sock.set_nonblocking(false);
    let mut sink = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || target.gone() {
            return;
        }
        // Short steps, so an exit without a close (a zombie keeps the socket) is seen.
        let _ = sock.set_read_timeout(Some(left.min(VICTIM_PROBE_INTERVAL)));
        match (&*sock).read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

/// The predecessor process: a pidfd where the kernel has them (Linux 5.3+), which stays
/// bound to that process even if its pid is reused, else its pid.
struct VictimProcess {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

impl VictimProcess {
    /// `None` when no process has that pid.
    fn open(pid: i32) -> Option<VictimProcess> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd >= 0 {
            // SAFETY: a fresh fd that nothing else owns.
            let pidfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
            return Some(VictimProcess {
                pid,
                pidfd: Some(pidfd),
            });
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => None,
            // No pidfds (old kernel, seccomp): by pid, as upstream.
            _ => (!process_gone(pid)).then_some(VictimProcess { pid, pidfd: None }),
        }
    }

    /// Whether it has exited (a zombie counts: it runs no code of its own any more).
    fn gone(&self) -> bool {
        match &self.pidfd {
            Some(fd) => {
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; a pidfd is readable once the process exited.
                let n = unsafe { libc::poll(&mut p, 1, 0) };
                n > 0 && p.revents != 0
            }
            None => process_gone(self.pid),
        }
    }

    fn signal(&self, sig: Signal) -> nix::Result<()> {
        match &self.pidfd {
            Some(fd) => {
                // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo, no flags.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        sig as libc::c_int,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                if r == 0 {
                    Ok(())
                } else {
                    Err(nix::errno::Errno::last())
                }
            }
            None => kill(Pid::from_raw(self.pid), sig),
        }
    }
}

/// Whether `/proc/<pid>/cmdline` is an mdmon of container `devnm` (the takeover's guard
/// against a reused pid): argv[0] as upstream checks it ([`is_mdmon_cmdline`]) and an
/// argument naming the container: `devnm`, `/dev/<devnm>`, `initrd/<devnm>`, anything
/// `resolve` maps to `devnm` (`/dev/md/<name>`), or `--all` (an `--all` child whose argv
/// could not be rewritten to its container's name).
pub fn is_mdmon_of(
    cmdline: &[u8],
    devnm: &str,
    resolve: impl Fn(&std::ffi::OsStr) -> Option<String>,
) -> bool {
    if !is_mdmon_cmdline(cmdline) {
        return false;
    }
    let d = devnm.as_bytes();
    cmdline
        .split(|&b| b == 0)
        .skip(1)
        .filter(|a| !a.is_empty())
        .any(|a| {
            a == d
                || a.strip_prefix(b"/dev/") == Some(d)
                || a.strip_prefix(b"initrd/") == Some(d)
                || a == b"--all"
                || (!a.starts_with(b"-")
                    && resolve(std::ffi::OsStr::from_bytes(a)).as_deref() == Some(devnm))
        })
}

/// Whether `/proc/<pid>/cmdline` belongs to an mdmon: upstream reads at most 99 bytes and
/// searches only argv[0] (NUL-terminated) for `mdmon` or `@dmon` (a `mdmon` argv[0] marked
/// with `@`), which protects a reused pid from being killed.
pub fn is_mdmon_cmdline(cmdline: &[u8]) -> bool {
    let head = &cmdline[..cmdline.len().min(99)];
    let argv0 = head.split(|&b| b == 0).next().unwrap_or(&[]);
    argv0.windows(5).any(|w| w == b"mdmon" || w == b"@dmon")
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
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mdmon-daemon-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn atoi_matches_c() {
        assert_eq!(atoi(b"1234\n"), 1234);
        assert_eq!(atoi(b"  42abc"), 42);
        assert_eq!(atoi(b"-7"), -7);
        assert_eq!(atoi(b"+9"), 9);
        assert_eq!(atoi(b"garbage"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"99999999999"), i32::MAX);
    }

    #[test]
    fn pid_file_is_exclusive_0600_and_reads_back() {
        let dir = temp_dir("pid");
        let files = RunFiles::new(&dir, "md127");
        assert_eq!(files.pid, dir.join("md127.pid"));
        assert_eq!(read_pid_file(&files.pid), -1);
        make_pid_file(&files.pid).unwrap();
        let text = fs::read_to_string(&files.pid).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        let mode = fs::metadata(&files.pid).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_pid_file(&files.pid), std::process::id() as i32);
        let again = make_pid_file(&files.pid).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        // Only the first 9 bytes count, as in mdadm.
        fs::write(&files.pid, "1234567890\n").unwrap();
        assert_eq!(read_pid_file(&files.pid), 123456789);
        fs::write(&files.pid, "").unwrap();
        assert_eq!(read_pid_file(&files.pid), -1);
        fs::write(&files.pid, "junk\n").unwrap();
        assert_eq!(read_pid_file(&files.pid), 0);
        // A pid file naming another process belongs to a successor: kept.
        fs::write(&files.pid, "1\n").unwrap();
        fs::write(&files.sock, "").unwrap();
        files.remove("md127");
        assert!(files.pid.exists() && files.sock.exists());
        fs::write(&files.pid, format!("{}\n", std::process::id())).unwrap();
        files.remove("md127");
        assert!(!files.pid.exists());
        assert!(!files.sock.exists());
        let _ = fs::remove_dir_all(&dir);
    }

    /// A pid file whose content cannot be written is not left behind empty (an empty one
    /// blocks every later start). The write fails for real in a child test process whose
    /// file size limit is 0 (EFBIG), as it fails with ENOSPC in a full /run (rig
    /// `fault-run-full`); before, the empty file stayed.
    #[test]
    fn a_pid_file_that_cannot_be_written_is_not_left_empty() {
        use std::os::unix::process::CommandExt;
        let dir = temp_dir("pid-unwritable");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "daemon::tests::pid_file_write_fails_in_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env("MDMON_TEST_PID_DIR", &dir);
        // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
        unsafe {
            child.pre_exec(|| {
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: libc::RLIM_INFINITY,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &zero);
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        let out = child.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
        assert!(
            !dir.join("md127.pid").exists(),
            "an empty pid file was left"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// The child half of the test above (run only by it).
    #[test]
    #[ignore]
    fn pid_file_write_fails_in_child() {
        let dir = PathBuf::from(std::env::var_os("MDMON_TEST_PID_DIR").unwrap());
        let path = dir.join("md127.pid");
        let e = make_pid_file(&path).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EFBIG));
    }

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
    fn control_socket_is_private_listening_and_answers_pings() {
        let dir = temp_dir("sock");
        let path = dir.join("md127.sock");
        fs::write(&path, "stale").unwrap();
        let listener = make_control_socket(&path).unwrap();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        // Non-blocking: no client yet.
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let server = std::thread::spawn(move || {
            struct Nop;
            impl crate::control::ControlHandler for Nop {
                fn ping_monitor(&mut self) {}
                fn ping_manager(&mut self) {}
                fn metadata_update(&mut self, _: Vec<u8>) {}
            }
            let mut server = ControlServer::new(listener, "md127");
            loop {
                // Root-only by design; the test runs as root in CI and on the rig host.
                match server.serve_pending(&mut Nop) {
                    crate::control::Served::NoClient => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    other => return other,
                }
            }
        });
        let client = UnixStream::connect(&path).unwrap();
        let result = ping(&client, Duration::from_secs(5));
        drop(client);
        let served = server.join().unwrap();
        if nix::unistd::getuid().is_root() {
            result.unwrap();
            assert_eq!(served, crate::control::Served::Client { requests: 1 });
        } else {
            assert!(result.is_err());
            assert_eq!(served, crate::control::Served::Refused);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn recognises_mdmon_command_lines() {
        assert!(is_mdmon_cmdline(b"/sbin/mdmon\0md127\0"));
        assert!(is_mdmon_cmdline(b"@sbin/mdmon\0--takeover\0md127\0"));
        assert!(is_mdmon_cmdline(b"@dmon\0md127\0"));
        assert!(is_mdmon_cmdline(b"mdmon"));
        assert!(!is_mdmon_cmdline(b"/bin/sh\0mdmon\0"));
        assert!(!is_mdmon_cmdline(b""));
        let mut long = vec![b'x'; 100];
        long.extend_from_slice(b"mdmon");
        assert!(!is_mdmon_cmdline(&long));
    }

    /// A stand-in predecessor: `sh` showing argv[0] `mdmon` and `container` as an argument,
    /// blocked in its `read` builtin (no child process of its own).
    fn fake_mdmon(container: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("/bin/sh")
            .arg0("mdmon")
            .args(["-c", "read x", container])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Issue 14 item 3: a predecessor stopped with SIGSTOP, holding our connection open,
    /// must not hold the takeover: it is killed after the bound and its exit confirmed.
    #[test]
    fn a_stopped_predecessor_is_killed_and_its_exit_confirmed() {
        let mut child = fake_mdmon("md127");
        let pid = child.id() as i32;
        // Wait until the exec happened (argv shows mdmon), then stop it.
        for _ in 0..200 {
            if fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"mdmon\0")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        // Stopped before it is signalled: a SIGTERM pending beside an unhandled SIGSTOP is
        // taken first (lower number), and the stand-in would simply die of it.
        let stopped = || {
            fs::read(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.iter()
                    .rposition(|&b| b == b')')
                    .and_then(|i| st.get(i + 2).copied())
                    == Some(b'T')
            })
        };
        for _ in 0..1000 {
            if stopped() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(stopped(), "the stand-in did not stop");
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            Victim {
                pid,
                sock: Some(ours),
            }
            .terminate("md127");
            let _ = done_tx.send(());
        });
        done.recv_timeout(Duration::from_secs(20))
            .expect("the takeover returned within its bound");
        // Confirmed before returning: it is a zombie now (or reaped), never running.
        assert!(process_gone(pid), "pid {pid} still runs after terminate");
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        drop(theirs);
    }

    #[test]
    fn an_mdmon_of_this_container_is_recognised_by_its_arguments() {
        let resolve = |a: &std::ffi::OsStr| (a == "/dev/md/imsm0").then(|| "md127".to_string());
        for yes in [
            &b"/sbin/mdmon\0md127\0"[..],
            b"@sbin/mdmon\0--takeover\0md127\0",
            b"mdmon\0--foreground\0--offroot\0--takeover\0initrd/md127\0",
            b"/sbin/mdmon\0/dev/md127\0",
            b"/sbin/mdmon\0/dev/md/imsm0\0",
            b"/sbin/mdmon\0--all\0",
        ] {
            assert!(is_mdmon_of(yes, "md127", resolve), "{yes:?}");
        }
        for no in [
            &b"/sbin/mdmon\0md126\0"[..],
            b"/sbin/mdmon\0md1270\0",
            b"/sbin/mdmon\0--takeover\0",
            b"/bin/sh\0md127\0",
            b"/sbin/mdmon\0/dev/md/other\0",
            b"",
        ] {
            assert!(!is_mdmon_of(no, "md127", resolve), "{no:?}");
        }
    }

    /// A predecessor that accepts nothing (stopped, its backlog full) cannot hold the
    /// connect of step 9.
    #[test]
    fn connecting_to_a_full_backlog_does_not_wait() {
        let dir = temp_dir("backlog");
        let path = dir.join("md127.sock");
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(fd.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        listen(&fd, Backlog::new(0).unwrap()).unwrap();
        let start = std::time::Instant::now();
        let mut held = Vec::new();
        let mut refused = false;
        for _ in 0..8 {
            match connect_without_waiting(&path) {
                Some(s) => held.push(s),
                None => {
                    refused = true;
                    break;
                }
            }
        }
        assert!(refused, "the backlog never filled");
        assert!(start.elapsed() < Duration::from_secs(2));
        let _ = fs::remove_dir_all(&dir);
    }

    /// The pid file may name a reused pid: an mdmon of another container is never signalled.
    #[test]
    fn an_mdmon_of_another_container_is_left_alone() {
        let mut child = fake_mdmon("md126");
        let pid = child.id() as i32;
        for _ in 0..200 {
            if fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"mdmon\0")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Victim { pid, sock: None }.terminate("md127");
        assert!(
            child.try_wait().unwrap().is_none(),
            "md126's mdmon was signalled"
        );
        child.kill().unwrap();
        child.wait().unwrap();
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
