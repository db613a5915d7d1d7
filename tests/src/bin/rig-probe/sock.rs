//! `rig-probe sock`: a raw client for mdmon's control socket (docs/protocol.md), for what mdadm
//! never sends: frames that break the protocol, and requests from a non-root user.
//!
//! It connects (after dropping to another uid/gid if asked: the daemon reads the peer's
//! credentials at connect time), sends one request, and reports what came back as one line
//! the scenario parses:
//!
//! `connect=ok sent=N reply=version|ack|none|frame:LEN|partial:N end=eof|reset|open|timeout
//!  version="..."`
//!
//! or `connect=error errno=E (text)` when the connection itself is refused (the socket's
//! mode is `srwx------`, so a non-root user normally fails here with EACCES).
//! Exit status 0 whenever the conversation ran (refusals are results, not errors).

use mdmon_core::protocol;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub const USAGE: &str = "\
  sock SOCKET|DEVNM [--uid U] [--gid G] [--wait-ms M] [--drip-ms D] REQUEST
                           one request on mdmon's control socket (DEVNM means
                           /run/mdadm/DEVNM.sock), after setgid/setuid when given. REQUEST:
                           ping | ping-manager | bad-start | bad-end | too-long | neg-len |
                           junk-update (a well-framed update of 16 bytes of 0xff) |
                           hex:BYTES. With --drip-ms, one byte every D ms until the request
                           is sent or the daemon closes (a client holding the manager).
                           Waits up to M ms (default 8000) for the reply and the close.
                           Prints `connect=ok sent=N reply=KIND end=HOW [held_ms=T]
                           [version=\"..\"]` or `connect=error errno=E (..)`.
";

struct Options {
    path: String,
    uid: Option<u32>,
    gid: Option<u32>,
    wait: Duration,
    drip: Option<Duration>,
    request: Vec<u8>,
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() % 2 != 0 {
        return Err("hex: odd number of digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| format!("hex: bad byte {}", &s[i..i + 2]))
        })
        .collect()
}

/// The bytes of a named request.
fn request_bytes(name: &str) -> Result<Vec<u8>, String> {
    let frame = |header: [u8; protocol::HEADER_LEN], payload: &[u8], end: [u8; 4]| {
        let mut v = header.to_vec();
        v.extend_from_slice(payload);
        v.extend_from_slice(&end);
        v
    };
    Ok(match name {
        "ping" => protocol::PING_MONITOR.to_vec(),
        "ping-manager" => protocol::PING_MANAGER.to_vec(),
        // The end magic where the start magic belongs.
        "bad-start" => frame(
            {
                let mut h = protocol::encode_header(0);
                h[..4].copy_from_slice(&protocol::encode_trailer());
                h
            },
            &[],
            protocol::encode_trailer(),
        ),
        // A ping whose end magic is wrong.
        "bad-end" => frame(protocol::encode_header(0), &[], [0xde, 0xad, 0xbe, 0xef]),
        // Only the header: a length one byte above the 4 MiB limit.
        "too-long" => protocol::encode_header(protocol::MAX_PAYLOAD as i32 + 1).to_vec(),
        // A negative length other than -1 (mdadm never sends one).
        "neg-len" => frame(protocol::encode_header(-2), &[], protocol::encode_trailer()),
        // A correctly framed update whose content is no valid update of any format.
        "junk-update" => frame(
            protocol::encode_header(16),
            &[0xff; 16],
            protocol::encode_trailer(),
        ),
        other => match other.strip_prefix("hex:") {
            Some(h) => parse_hex(h)?,
            None => return Err(format!("unknown request {other}")),
        },
    })
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut it = args.iter();
    let target = it.next().ok_or("sock needs a socket path or devnm")?;
    let path = if target.contains('/') {
        target.clone()
    } else {
        format!("/run/mdadm/{target}.sock")
    };
    let num = |v: Option<&String>, what: &str| -> Result<u32, String> {
        v.ok_or(format!("{what} needs a value"))?
            .parse()
            .map_err(|_| format!("{what}: not a number"))
    };
    let (mut uid, mut gid, mut wait, mut request) = (None, None, Duration::from_secs(8), None);
    let mut drip = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--uid" => uid = Some(num(it.next(), a)?),
            "--gid" => gid = Some(num(it.next(), a)?),
            "--wait-ms" => wait = Duration::from_millis(num(it.next(), a)?.into()),
            "--drip-ms" => drip = Some(Duration::from_millis(num(it.next(), a)?.into())),
            r if request.is_none() => request = Some(request_bytes(r)?),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(Options {
        path,
        uid,
        gid,
        wait,
        drip,
        request: request.ok_or("sock needs a REQUEST")?,
    })
}

/// Drops to `gid`/`uid` for good (supplementary groups first, then gid, then uid: after
/// setuid we could no longer change the others).
fn drop_privileges(uid: Option<u32>, gid: Option<u32>) -> Result<(), String> {
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    let check = |r: libc::c_int, what: &str| {
        if r == 0 {
            Ok(())
        } else {
            Err(format!("{what}: {}", io::Error::last_os_error()))
        }
    };
    // SAFETY: an empty group list.
    check(unsafe { libc::setgroups(0, std::ptr::null()) }, "setgroups")?;
    if let Some(g) = gid.or(uid) {
        // SAFETY: plain syscall wrappers.
        check(unsafe { libc::setgid(g) }, "setgid")?;
    }
    if let Some(u) = uid {
        // SAFETY: as above.
        check(unsafe { libc::setuid(u) }, "setuid")?;
    }
    Ok(())
}

/// What the daemon sent back, decoded as far as it goes.
fn describe_reply(bytes: &[u8]) -> (String, Option<String>) {
    if bytes.is_empty() {
        return ("none".into(), None);
    }
    if bytes.len() < protocol::HEADER_LEN {
        return (format!("partial:{}", bytes.len()), None);
    }
    let mut header = [0u8; protocol::HEADER_LEN];
    header.copy_from_slice(&bytes[..protocol::HEADER_LEN]);
    let len = match protocol::decode_header(&header) {
        Ok(r) => r.payload_len(),
        Err(e) => return (format!("garbage:{}({e})", bytes.len()), None),
    };
    let total = protocol::HEADER_LEN + len + protocol::TRAILER_LEN;
    if bytes.len() < total {
        return (format!("partial:{}", bytes.len()), None);
    }
    if len == 0 {
        return ("ack".into(), None);
    }
    let text = &bytes[protocol::HEADER_LEN..protocol::HEADER_LEN + len];
    let text = String::from_utf8_lossy(text)
        .trim_end_matches(['\0', '\n'])
        .to_owned();
    if text.starts_with("mdadm - v") {
        ("version".into(), Some(text))
    } else {
        (format!("frame:{len}"), Some(text))
    }
}

/// Length of the first complete frame in `bytes`, if there is one.
fn complete_frame(bytes: &[u8]) -> Option<usize> {
    let header: [u8; protocol::HEADER_LEN] = bytes.get(..protocol::HEADER_LEN)?.try_into().ok()?;
    let len = protocol::decode_header(&header).ok()?.payload_len();
    let total = protocol::HEADER_LEN + len + protocol::TRAILER_LEN;
    (bytes.len() >= total).then_some(total)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    drop_privileges(o.uid, o.gid)?;
    // The path must not contain NUL; UnixStream checks, this gives a clearer message.
    CString::new(o.path.as_str()).map_err(|_| "NUL in socket path")?;
    let mut stream = match UnixStream::connect(&o.path) {
        Ok(s) => s,
        Err(e) => {
            println!(
                "connect=error errno={} ({e})",
                e.raw_os_error().unwrap_or(0)
            );
            return Ok(());
        }
    };
    let start = std::time::Instant::now();
    // The daemon may close before reading everything (a refused client): that is a result.
    let sent = match o.drip {
        None => match stream.write_all(&o.request) {
            Ok(()) => o.request.len(),
            Err(_) => 0,
        },
        Some(gap) => {
            let mut sent = 0;
            for (i, b) in o.request.iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(gap);
                }
                if stream.write_all(&[*b]).is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        }
    };
    stream
        .set_read_timeout(Some(o.wait))
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the daemon closes, or until one complete reply frame is in (then stop:
    // the daemon keeps a served connection open 3 s waiting for the next request).
    let end = loop {
        if complete_frame(&reply).is_some() {
            break "open";
        }
        match stream.read(&mut buf) {
            Ok(0) => break "eof",
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "reset",
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                break "timeout"
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    };
    let (kind, text) = describe_reply(&reply);
    let held = match o.drip {
        Some(_) => format!(" held_ms={}", start.elapsed().as_millis()),
        None => String::new(),
    };
    match text {
        Some(t) => println!("connect=ok sent={sent} reply={kind} end={end}{held} version=\"{t}\""),
        None => println!("connect=ok sent={sent} reply={kind} end={end}{held}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_described() {
        assert_eq!(describe_reply(&[]).0, "none");
        assert_eq!(describe_reply(&protocol::ACK).0, "ack");
        assert_eq!(describe_reply(&protocol::ACK[..5]).0, "partial:5");
        let (kind, text) = describe_reply(&protocol::VERSION_REPLY);
        assert_eq!(kind, "version");
        assert!(text.unwrap().starts_with("mdadm - v4.6 - mdmon-rs"));
        assert_eq!(
            complete_frame(&protocol::VERSION_REPLY),
            Some(protocol::VERSION_REPLY_LEN)
        );
        assert_eq!(complete_frame(&protocol::VERSION_REPLY[..20]), None);
    }

    #[test]
    fn malformed_requests_are_refused_by_the_decoder() {
        for name in ["bad-start", "too-long", "neg-len"] {
            let b = request_bytes(name).unwrap();
            let h: [u8; 8] = b[..8].try_into().unwrap();
            assert!(protocol::decode_header(&h).is_err(), "{name}");
        }
        let b = request_bytes("bad-end").unwrap();
        let t: [u8; 4] = b[8..12].try_into().unwrap();
        assert!(protocol::check_end(&t).is_err());
        let b = request_bytes("junk-update").unwrap();
        let h: [u8; 8] = b[..8].try_into().unwrap();
        assert_eq!(
            protocol::decode_header(&h),
            Ok(protocol::Request::Update { len: 16 })
        );
        assert_eq!(
            request_bytes("hex:a5a5 5a5a").unwrap(),
            vec![0xa5, 0xa5, 0x5a, 0x5a]
        );
        assert!(request_bytes("hex:a").is_err());
        assert!(request_bytes("nonsense").is_err());
    }
}
