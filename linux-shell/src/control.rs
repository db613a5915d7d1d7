//! The control-socket server (docs/protocol.md): mdadm's only way to talk to a running mdmon.
//!
//! The manager thread calls [`ControlServer::serve_pending`] when the listening socket is
//! readable. It accepts at most one client and serves it to the end, as upstream does: while
//! one client is connected the manager does nothing else (docs/protocol.md, "Requests"), which
//! is what gives metadata updates one global order. A conversation is any number of
//! request/reply rounds and ends at EOF, at any error, after 3 s without a complete chunk, or
//! once the client has had [`CONVERSATION_LIMIT`] of the manager's time: a client that sends a
//! byte every 2.9 s would otherwise hold the manager (no mdstat pass, no member removal, no
//! spare activation, SIGTERM unread) for as long as it likes. The manager's loop runs its own
//! work between two conversations.
//!
//! Frames are decoded by `mdmon_core::protocol`; this module only moves bytes, enforces the
//! timeouts and the size bound, checks the peer's credentials, and dispatches to a
//! [`ControlHandler`].

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use mdmon_core::protocol::{self, Request, HEADER_LEN, TRAILER_LEN};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{getsockopt, send, sockopt, MsgFlags};

/// Per-chunk receive and send timeout of the daemon side (`read_sock()` `tmo = 3`).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

/// The client's share of one conversation: time spent waiting for its bytes or for it to
/// take a reply, from the accept on. Time the manager itself spends on a request (a ping
/// waiting for the monitor's pass, an update waiting for a snapshot) does not count, so
/// slow disks never cut mdadm off; mdadm's own conversations need milliseconds of it.
pub const CONVERSATION_LIMIT: Duration = Duration::from_secs(5);

/// Payload bytes read per step: a hostile length cannot make us reserve 4 MiB before the
/// bytes exist, while real updates (a few hundred bytes to a few KiB) take one step.
const PAYLOAD_CHUNK: usize = 64 * 1024;

/// What the manager does for each request. The server sends the reply after the call
/// returns, so each method may block until its promise holds.
pub trait ControlHandler {
    /// "Ping monitor" (length 0). Return once queued updates are handed over and the monitor
    /// has completed a full pass that started after this call (the barrier; docs/monitor.md,
    /// "The ping barrier"); the version frame is sent afterwards.
    fn ping_monitor(&mut self);
    /// "Ping manager" (length −1). Run a discovery pass now; an ack is sent afterwards.
    fn ping_manager(&mut self);
    /// A metadata update. The ack sent afterwards means "accepted (or dropped)", never
    /// "applied": mdadm follows with a ping to wait for that.
    fn metadata_update(&mut self, payload: Vec<u8>);
}

/// What one call of [`ControlServer::serve_pending`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// No client was waiting (a spurious wake-up).
    NoClient,
    /// A client was served until it hung up, went quiet or broke the protocol.
    Client {
        /// Requests answered on that connection.
        requests: u32,
    },
    /// A client was refused because it does not run as root.
    Refused,
}

/// The listening control socket of one container and the rules for serving it.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    devnm: String,
    allowed_uid: u32,
    timeout: Duration,
    limit: Duration,
}

/// Why a conversation ended before EOF.
#[derive(Debug)]
enum End {
    /// The client closed the connection between frames: the normal end.
    Closed,
    /// Nothing arrived within the timeout.
    TimedOut,
    /// The client used up its [`CONVERSATION_LIMIT`].
    Deadline,
    /// A frame broke the protocol.
    Frame(protocol::FrameError),
    /// The connection broke (EOF inside a frame, reset, ...).
    Io(io::Error),
}

impl ControlServer {
    /// Serves `listener`, which must be non-blocking (the manager only calls in when poll
    /// says a client is waiting, and a client that gave up in between must not hang it).
    pub fn new(listener: UnixListener, devnm: &str) -> Self {
        Self {
            listener,
            devnm: devnm.to_owned(),
            allowed_uid: 0,
            timeout: CLIENT_TIMEOUT,
            limit: CONVERSATION_LIMIT,
        }
    }

    /// The listening socket, for the manager's poll set (readable = a client is waiting).
    pub fn listener_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    #[cfg(test)]
    fn with_rules(mut self, allowed_uid: u32, timeout: Duration) -> Self {
        self.allowed_uid = allowed_uid;
        self.timeout = timeout;
        self
    }

    #[cfg(test)]
    fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Accepts at most one waiting client and serves it until the conversation ends.
    /// Problems are logged and end that conversation only; the daemon stays up.
    pub fn serve_pending(&mut self, handler: &mut dyn ControlHandler) -> Served {
        let stream = match self.listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Served::NoClient,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Served::NoClient,
            Err(e) => {
                log!(self.devnm, "control socket: accept failed: {e}");
                return Served::NoClient;
            }
        };
        let peer = match getsockopt(&stream, sockopt::PeerCredentials) {
            Ok(cred) if cred.uid() == self.allowed_uid => cred.pid(),
            Ok(cred) => {
                log!(
                    self.devnm,
                    "control socket: refusing client pid {} uid {}: only uid {} may talk to mdmon",
                    cred.pid(),
                    cred.uid(),
                    self.allowed_uid
                );
                return Served::Refused;
            }
            Err(e) => {
                log!(
                    self.devnm,
                    "control socket: cannot read the client's credentials: {e}"
                );
                return Served::Refused;
            }
        };
        if let Err(e) = stream.set_nonblocking(true) {
            log!(
                self.devnm,
                "control socket: cannot make the connection non-blocking: {e}"
            );
            return Served::Client { requests: 0 };
        }
        let mut requests = 0;
        let mut deadline = Instant::now() + self.limit;
        let end = loop {
            match self.serve_one_request(&stream, handler, &mut deadline) {
                Ok(()) => requests += 1,
                Err(end) => break end,
            }
        };
        match end {
            End::Closed | End::TimedOut => {}
            End::Deadline => log!(
                self.devnm,
                "control socket: client pid {peer} kept the connection for its {} s without finishing; closing it after {requests} request(s)",
                self.limit.as_secs_f32()
            ),
            End::Frame(e) => log!(
                self.devnm,
                "control socket: refused a frame ({e}); closing the connection"
            ),
            End::Io(e) => log!(
                self.devnm,
                "control socket: connection broken after {requests} request(s): {e}"
            ),
        }
        Served::Client { requests }
    }

    fn serve_one_request(
        &self,
        stream: &UnixStream,
        handler: &mut dyn ControlHandler,
        deadline: &mut Instant,
    ) -> Result<(), End> {
        if Instant::now() >= *deadline {
            return Err(End::Deadline);
        }
        let mut header = [0u8; HEADER_LEN];
        match self.read_full(stream, &mut header, *deadline)? {
            0 => return Err(End::Closed),
            n if n < HEADER_LEN => return Err(End::Io(truncated("header", n))),
            _ => {}
        }
        let request = protocol::decode_header(&header).map_err(End::Frame)?;
        let payload = self.read_payload(stream, request.payload_len(), *deadline)?;
        let mut trailer = [0u8; TRAILER_LEN];
        let n = self.read_full(stream, &mut trailer, *deadline)?;
        if n < TRAILER_LEN {
            return Err(End::Io(truncated("end magic", n)));
        }
        protocol::check_end(&trailer).map_err(End::Frame)?;
        // Our own time on the request is not the client's: the deadline moves by it.
        let busy = Instant::now();
        let reply: &[u8] = match request {
            Request::PingMonitor => {
                handler.ping_monitor();
                &protocol::VERSION_REPLY
            }
            Request::PingManager => {
                handler.ping_manager();
                &protocol::ACK
            }
            Request::Update { .. } => {
                handler.metadata_update(payload);
                &protocol::ACK
            }
        };
        *deadline += busy.elapsed();
        self.write_all(stream, reply, *deadline)
    }

    /// Reads the payload in bounded steps; `len` is at most `protocol::MAX_PAYLOAD`.
    fn read_payload(
        &self,
        stream: &UnixStream,
        len: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, End> {
        let mut payload = Vec::new();
        while payload.len() < len {
            let step = (len - payload.len()).min(PAYLOAD_CHUNK);
            let start = payload.len();
            payload.resize(start + step, 0);
            let n = self.read_full(stream, &mut payload[start..], deadline)?;
            if n < step {
                return Err(End::Io(truncated("payload", start + n)));
            }
        }
        Ok(payload)
    }

    /// Fills `buf` unless the peer closes first; returns the bytes read (short only at EOF).
    /// Each wait for more bytes is bounded by the timeout and by the conversation's deadline.
    fn read_full(
        &self,
        mut stream: &UnixStream,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<usize, End> {
        let mut done = 0;
        while done < buf.len() {
            match stream.read(&mut buf[done..]) {
                Ok(0) => return Ok(done),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait(stream, PollFlags::POLLIN, deadline)? {
                        return Err(End::TimedOut);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Io(e)),
            }
        }
        Ok(done)
    }

    fn write_all(
        &self,
        stream: &UnixStream,
        mut bytes: &[u8],
        deadline: Instant,
    ) -> Result<(), End> {
        while !bytes.is_empty() {
            // MSG_NOSIGNAL: a client that hung up gives EPIPE here, never a SIGPIPE.
            match send(
                std::os::fd::AsRawFd::as_raw_fd(stream),
                bytes,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(n) => bytes = &bytes[n..],
                Err(nix::errno::Errno::EAGAIN) => {
                    if !self.wait(stream, PollFlags::POLLOUT, deadline)? {
                        return Err(End::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "reply not taken within the timeout",
                        )));
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(End::Io(e.into())),
            }
        }
        Ok(())
    }

    /// Waits until `stream` is ready for `events`; false on timeout, `End::Deadline` when
    /// the conversation's deadline passes first.
    fn wait(&self, stream: &UnixStream, events: PollFlags, deadline: Instant) -> Result<bool, End> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(End::Deadline);
        }
        let by_deadline = left < self.timeout;
        let wait = left.min(self.timeout);
        // Rounded up, so a wait that ends at the deadline finds it passed.
        let ms = u16::try_from(wait.as_millis() + 1).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(stream.as_fd(), events)];
        loop {
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) if by_deadline => return Err(End::Deadline),
                Ok(0) => return Ok(false),
                // Readable, writable, hung up or in error: the next read/write tells which.
                Ok(_) => return Ok(true),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(End::Io(e.into())),
            }
        }
    }
}

fn truncated(what: &str, got: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("client closed the connection inside the {what} (after {got} bytes)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::mpsc;

    /// Records what the server dispatched, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Call {
        PingMonitor,
        PingManager,
        Update(Vec<u8>),
    }
    struct Recorder(mpsc::Sender<Call>);
    impl ControlHandler for Recorder {
        fn ping_monitor(&mut self) {
            let _ = self.0.send(Call::PingMonitor);
        }
        fn ping_manager(&mut self) {
            let _ = self.0.send(Call::PingManager);
        }
        fn metadata_update(&mut self, payload: Vec<u8>) {
            let _ = self.0.send(Call::Update(payload));
        }
    }

    struct Fixture {
        path: PathBuf,
        calls: mpsc::Receiver<Call>,
        served: mpsc::Receiver<Served>,
    }

    /// A server on a fresh socket path, serving `clients` connections in a thread the way
    /// the manager does (poll the listener, then serve_pending).
    fn start(tag: &str, clients: usize, allowed_uid: u32, timeout: Duration) -> Fixture {
        let dir = std::env::temp_dir().join(format!("mdmon-ctl-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("md127.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let (call_tx, calls) = mpsc::channel();
        let (served_tx, served) = mpsc::channel();
        std::thread::spawn(move || {
            let mut server = ControlServer::new(listener, "md127").with_rules(allowed_uid, timeout);
            let mut handler = Recorder(call_tx);
            let mut done = 0;
            while done < clients {
                let mut fds = [PollFd::new(server.listener_fd(), PollFlags::POLLIN)];
                if poll(&mut fds, PollTimeout::from(5000u16)).unwrap() == 0 {
                    continue;
                }
                let s = server.serve_pending(&mut handler);
                if s != Served::NoClient {
                    done += 1;
                    served_tx.send(s).unwrap();
                }
            }
        });
        Fixture {
            path,
            calls,
            served,
        }
    }

    fn connect(path: &PathBuf) -> UnixStream {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn read_reply(s: &mut UnixStream, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).unwrap();
        buf
    }

    fn update_frame(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; payload.len() + protocol::EMPTY_FRAME_LEN];
        let n = protocol::encode_frame(payload, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    /// The server closed the connection without replying. A Unix socket closed with
    /// unread bytes in it reports ECONNRESET to the peer instead of EOF; both are a close.
    fn expect_eof(s: &mut UnixStream) {
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "unexpected bytes after refusal: {rest:?}"),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        }
    }

    #[test]
    fn several_rounds_on_one_connection_then_eof() {
        let f = start("rounds", 1, nix::unistd::getuid().as_raw(), CLIENT_TIMEOUT);
        let mut s = connect(&f.path);

        s.write_all(&protocol::PING_MONITOR).unwrap();
        let reply = read_reply(&mut s, protocol::VERSION_REPLY_LEN);
        assert_eq!(reply, protocol::VERSION_REPLY);
        #[cfg(target_endian = "little")]
        {
            let text = protocol::VERSION.as_bytes();
            assert_eq!(&reply[..4], &[0xa5, 0xa5, 0x5a, 0x5a]);
            assert_eq!(reply[4..8], (text.len() as i32).to_le_bytes());
            assert_eq!(&reply[8..8 + text.len()], text);
            assert_eq!(&reply[8 + text.len()..], &[0x5a, 0x5a, 0xa5, 0xa5]);
        }
        assert_eq!(f.calls.recv().unwrap(), Call::PingMonitor);

        s.write_all(&protocol::PING_MANAGER).unwrap();
        assert_eq!(read_reply(&mut s, 12), protocol::ACK);
        assert_eq!(f.calls.recv().unwrap(), Call::PingManager);

        // An update larger than one read step, written in two pieces.
        let payload: Vec<u8> = (0..PAYLOAD_CHUNK + 1000).map(|i| i as u8).collect();
        let frame = update_frame(&payload);
        s.write_all(&frame[..5000]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(&frame[5000..]).unwrap();
        assert_eq!(read_reply(&mut s, 12), protocol::ACK);
        assert_eq!(f.calls.recv().unwrap(), Call::Update(payload));

        drop(s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 3 });
    }

    #[test]
    fn bad_frames_are_refused_and_the_next_client_is_served() {
        let uid = nix::unistd::getuid().as_raw();
        let f = start("bad", 4, uid, CLIENT_TIMEOUT);

        // Wrong start magic.
        let mut s = connect(&f.path);
        s.write_all(&protocol::encode_trailer()).unwrap();
        s.write_all(&[0u8; 8]).unwrap();
        expect_eof(&mut s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 0 });

        // Length above the maximum: refused on the header, before any payload is read.
        let mut s = connect(&f.path);
        let over = i32::try_from(protocol::MAX_PAYLOAD + 1).unwrap();
        s.write_all(&protocol::encode_header(over)).unwrap();
        expect_eof(&mut s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 0 });

        // A valid ping, then a frame with a wrong end magic and a length below -1.
        let mut s = connect(&f.path);
        s.write_all(&protocol::PING_MONITOR).unwrap();
        assert_eq!(
            read_reply(&mut s, protocol::VERSION_REPLY_LEN),
            protocol::VERSION_REPLY
        );
        s.write_all(&protocol::encode_header(2)).unwrap();
        s.write_all(&[7, 7]).unwrap();
        s.write_all(&protocol::encode_header(0)[..4]).unwrap();
        expect_eof(&mut s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 1 });
        assert_eq!(f.calls.recv().unwrap(), Call::PingMonitor);

        // Still serving.
        let mut s = connect(&f.path);
        s.write_all(&protocol::encode_header(-2)).unwrap();
        expect_eof(&mut s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 0 });
        // The malformed update was never dispatched.
        assert!(f.calls.try_recv().is_err());
    }

    #[test]
    fn idle_and_truncated_clients_time_out() {
        let uid = nix::unistd::getuid().as_raw();
        let f = start("idle", 2, uid, Duration::from_millis(300));
        let mut s = connect(&f.path);
        s.write_all(&protocol::PING_MANAGER).unwrap();
        assert_eq!(read_reply(&mut s, 12), protocol::ACK);
        // Silence: the server closes the connection after the timeout.
        expect_eof(&mut s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 1 });
        // Half a header, then silence.
        let mut s = connect(&f.path);
        s.write_all(&protocol::PING_MONITOR[..6]).unwrap();
        expect_eof(&mut s);
        assert_eq!(f.served.recv().unwrap(), Served::Client { requests: 0 });
    }

    /// Issue 14 item 2: a client that sends a byte now and then, each within the per-read
    /// timeout, must not hold the manager: the conversation has an overall deadline.
    #[test]
    fn a_slow_drip_is_cut_off_by_the_conversation_deadline() {
        let uid = nix::unistd::getuid().as_raw();
        let f = start("drip", 1, uid, Duration::from_secs(1));
        let mut s = connect(&f.path);
        let frame = update_frame(&[0x55; 64]);
        let started = std::time::Instant::now();
        let drip = std::thread::spawn(move || {
            // One byte every 0.5 s (under the 1 s read timeout), for up to 15 s.
            for b in frame.iter().take(30) {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let served = f
            .served
            .recv_timeout(Duration::from_secs(9))
            .expect("the dripping client was cut off");
        assert_eq!(served, Served::Client { requests: 0 });
        assert!(started.elapsed() < Duration::from_secs(9));
        assert!(f.calls.try_recv().is_err(), "nothing was dispatched");
        drip.join().unwrap();
    }

    /// The deadline is the client's share only: a request the manager takes long over (a
    /// ping waiting for slow metadata writes) does not cut mdadm off.
    #[test]
    fn our_own_time_on_a_request_does_not_count() {
        struct Slow;
        impl ControlHandler for Slow {
            fn ping_monitor(&mut self) {
                std::thread::sleep(Duration::from_millis(700));
            }
            fn ping_manager(&mut self) {}
            fn metadata_update(&mut self, _: Vec<u8>) {}
        }
        let dir = std::env::temp_dir().join(format!("mdmon-ctl-{}-slow", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("md127.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut s = connect(&path);
        // Three pings, 2.1 s of the server's own time, against a 1 s limit.
        for _ in 0..3 {
            s.write_all(&protocol::PING_MONITOR).unwrap();
        }
        let uid = nix::unistd::getuid().as_raw();
        let mut server = ControlServer::new(listener, "md127")
            .with_rules(uid, CLIENT_TIMEOUT)
            .with_limit(Duration::from_secs(1));
        let server = std::thread::spawn(move || server.serve_pending(&mut Slow));
        for _ in 0..3 {
            assert_eq!(
                read_reply(&mut s, protocol::VERSION_REPLY_LEN),
                protocol::VERSION_REPLY
            );
        }
        drop(s);
        assert_eq!(server.join().unwrap(), Served::Client { requests: 3 });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn clients_of_other_users_are_refused() {
        let other = nix::unistd::getuid().as_raw().wrapping_add(1);
        let f = start("cred", 2, other, CLIENT_TIMEOUT);
        for _ in 0..2 {
            let mut s = connect(&f.path);
            // The server may already have closed the connection: ignore write errors.
            let _ = s.write_all(&protocol::PING_MONITOR);
            expect_eof(&mut s);
            assert_eq!(f.served.recv().unwrap(), Served::Refused);
        }
        assert!(f.calls.try_recv().is_err());
    }
}
