//! The control-socket frame mdadm and mdmon exchange (docs/protocol.md, "Frame", "Requests").
//!
//! A frame is `start magic (u32) | length (i32) | payload | end magic (u32)`, every integer
//! in host byte order: mdadm and mdmon always run on the same machine, and upstream simply
//! writes its in-memory `int`s. The length is signed because two requests are encoded in
//! it: 0 is "ping the monitor" and −1 is "ping the manager"; a positive length carries a
//! metadata update of that many bytes.
//!
//! Everything here is pure: the shell reads 8 header bytes, asks [`decode_header`] what
//! follows, reads that many payload bytes (never more than [`MAX_PAYLOAD`]) and the 4 end
//! bytes, and checks them with [`check_end`]. Replies are built into fixed arrays.

/// First field of every frame (`0x5a5aa5a5`).
pub const START_MAGIC: u32 = 0x5a5a_a5a5;
/// Last field of every frame.
pub const END_MAGIC: u32 = 0xa5a5_5a5a;
/// Start magic plus length.
pub const HEADER_LEN: usize = 8;
/// End magic.
pub const TRAILER_LEN: usize = 4;
/// Bytes of a frame without payload (ping, ping-manager, ack).
pub const EMPTY_FRAME_LEN: usize = HEADER_LEN + TRAILER_LEN;
/// The largest payload a receiver accepts: upstream's `MSG_MAX_LEN` (4 MiB). mdadm never
/// sends more (its largest update is a DDF vd-config record set), and a receiver that
/// trusts a larger length could be made to allocate without bound.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// The length field value of a "ping manager" request.
const PING_MANAGER_LEN: i32 = -1;

/// What the version reply says. mdadm parses it with util.c `mdadm_version()` and only
/// insists on ≥ 3.2.0 (`block_monitor()`); we claim the newest protocol we match (4.6)
/// and name ourselves after the second dash, where upstream puts its release date.
/// The trailing NUL is part of the payload, as in upstream's reply.
pub const VERSION: &str = concat!(
    "mdadm - v4.6 - mdmon-rs ",
    env!("CARGO_PKG_VERSION"),
    "\n\0"
);

/// Bytes of the version reply frame.
pub const VERSION_REPLY_LEN: usize = HEADER_LEN + VERSION.len() + TRAILER_LEN;

/// What a received header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Request {
    /// Length 0: wait for the monitor's barrier, answer with the version frame.
    PingMonitor,
    /// Length −1: run a discovery pass now, answer with an ack.
    PingManager,
    /// Length 1..=[`MAX_PAYLOAD`]: a metadata update of `len` payload bytes follows.
    Update {
        /// Payload bytes still to be read before the end magic.
        len: usize,
    },
}

impl Request {
    /// Payload bytes that follow the header.
    pub const fn payload_len(self) -> usize {
        match self {
            Request::Update { len } => len,
            Request::PingMonitor | Request::PingManager => 0,
        }
    }
}

/// Why a frame was refused. Any of these ends the conversation with that client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// The first four bytes were not [`START_MAGIC`].
    BadStartMagic(u32),
    /// A negative length other than −1: mdadm never sends one (upstream treats it as an
    /// update of negative size, i.e. undefined behaviour).
    NegativeLength(i32),
    /// A length above [`MAX_PAYLOAD`].
    TooLong(i32),
    /// The four bytes after the payload were not [`END_MAGIC`].
    BadEndMagic(u32),
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::BadStartMagic(m) => {
                write!(
                    f,
                    "bad start magic {m:#010x} (expected {START_MAGIC:#010x})"
                )
            }
            FrameError::NegativeLength(l) => write!(f, "invalid negative length {l}"),
            FrameError::TooLong(l) => {
                write!(f, "length {l} exceeds the maximum of {MAX_PAYLOAD} bytes")
            }
            FrameError::BadEndMagic(m) => {
                write!(f, "bad end magic {m:#010x} (expected {END_MAGIC:#010x})")
            }
        }
    }
}

/// Decodes the 8 header bytes of a frame.
pub fn decode_header(header: &[u8; HEADER_LEN]) -> Result<Request, FrameError> {
    let magic = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
    if magic != START_MAGIC {
        return Err(FrameError::BadStartMagic(magic));
    }
    let len = i32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
    match len {
        0 => Ok(Request::PingMonitor),
        PING_MANAGER_LEN => Ok(Request::PingManager),
        l if l < 0 => Err(FrameError::NegativeLength(l)),
        // `l` is positive here, so the conversion is lossless on every target we build for;
        // a target with 16-bit usize would see the length as too long, which is the safe side.
        l => match usize::try_from(l) {
            Ok(n) if n <= MAX_PAYLOAD => Ok(Request::Update { len: n }),
            _ => Err(FrameError::TooLong(l)),
        },
    }
}

/// Checks the 4 bytes that end a frame.
pub fn check_end(trailer: &[u8; TRAILER_LEN]) -> Result<(), FrameError> {
    let magic = u32::from_ne_bytes(*trailer);
    if magic == END_MAGIC {
        Ok(())
    } else {
        Err(FrameError::BadEndMagic(magic))
    }
}

/// The header of a frame carrying `len` (0 = ping/ack, −1 = ping manager, > 0 = payload).
pub const fn encode_header(len: i32) -> [u8; HEADER_LEN] {
    let m = START_MAGIC.to_ne_bytes();
    let l = len.to_ne_bytes();
    [m[0], m[1], m[2], m[3], l[0], l[1], l[2], l[3]]
}

/// The end magic bytes.
pub const fn encode_trailer() -> [u8; TRAILER_LEN] {
    END_MAGIC.to_ne_bytes()
}

const fn empty_frame(len: i32) -> [u8; EMPTY_FRAME_LEN] {
    let h = encode_header(len);
    let t = encode_trailer();
    [
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], t[0], t[1], t[2], t[3],
    ]
}

/// The reply to a metadata update or a ping-manager: an empty frame. The same bytes are a
/// "ping monitor" request when a client sends them.
pub const ACK: [u8; EMPTY_FRAME_LEN] = empty_frame(0);
/// A "ping monitor" request (identical to [`ACK`]; named for the client's intent).
pub const PING_MONITOR: [u8; EMPTY_FRAME_LEN] = empty_frame(0);
/// A "ping manager" request.
pub const PING_MANAGER: [u8; EMPTY_FRAME_LEN] = empty_frame(PING_MANAGER_LEN);

const fn build_version_reply() -> [u8; VERSION_REPLY_LEN] {
    let mut out = [0u8; VERSION_REPLY_LEN];
    // VERSION is a few dozen bytes, far below i32::MAX.
    let h = encode_header(VERSION.len() as i32);
    let v = VERSION.as_bytes();
    let t = encode_trailer();
    let mut i = 0;
    while i < HEADER_LEN {
        out[i] = h[i];
        i += 1;
    }
    let mut j = 0;
    while j < v.len() {
        out[HEADER_LEN + j] = v[j];
        j += 1;
    }
    let mut k = 0;
    while k < TRAILER_LEN {
        out[HEADER_LEN + v.len() + k] = t[k];
        k += 1;
    }
    out
}

/// The complete reply to a "ping monitor": a frame whose payload is [`VERSION`].
pub const VERSION_REPLY: [u8; VERSION_REPLY_LEN] = build_version_reply();

/// Why a frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The payload exceeds [`MAX_PAYLOAD`]: no receiver would accept the frame.
    PayloadTooLong {
        /// Payload bytes offered.
        len: usize,
    },
    /// The caller's buffer cannot hold the frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
    },
}

/// Encodes a frame with `payload` into `out`, returning the number of bytes used. An empty
/// payload gives [`ACK`].
pub fn encode_frame(payload: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(EncodeError::PayloadTooLong { len: payload.len() });
    }
    // At most MAX_PAYLOAD (4 MiB), so it fits an i32.
    let len = payload.len() as i32;
    let needed = EMPTY_FRAME_LEN + payload.len();
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    out[..HEADER_LEN].copy_from_slice(&encode_header(len));
    out[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    out[HEADER_LEN + payload.len()..needed].copy_from_slice(&encode_trailer());
    Ok(needed)
}

/// Parses a version text the way mdadm's util.c `mdadm_version()` does and returns
/// A·10⁶ + B·10³ + C, or `None` where mdadm would return −1. Used to prove that our
/// [`VERSION`] passes mdadm's check (≥ 3.2.0, msg.c `check_mdmon_version()`).
///
/// mdadm's rule: after the first `-` come ` v`, then `A.B` with an optional `.C`, then a
/// space or `-`. `strtoul` accepts an empty digit run as 0, and so do we.
pub fn mdadm_version(text: &[u8]) -> Option<u32> {
    let dash = text.iter().position(|&b| b == b'-')?;
    let rest = text.get(dash + 1..)?;
    if rest.first() != Some(&b' ') || rest.get(1) != Some(&b'v') {
        return None;
    }
    let mut pos = 2;
    let a = digits(rest, &mut pos);
    if rest.get(pos) != Some(&b'.') {
        return None;
    }
    pos += 1;
    let b = digits(rest, &mut pos);
    let c = if rest.get(pos) == Some(&b'.') {
        pos += 1;
        digits(rest, &mut pos)
    } else {
        0
    };
    match rest.get(pos) {
        Some(b' ') | Some(b'-') => {}
        _ => return None,
    }
    a.checked_mul(1_000_000)?
        .checked_add(b.checked_mul(1000)?)?
        .checked_add(c)
}

fn digits(text: &[u8], pos: &mut usize) -> u32 {
    let mut value: u32 = 0;
    while let Some(&d) = text.get(*pos) {
        if !d.is_ascii_digit() {
            break;
        }
        value = value.saturating_mul(10).saturating_add(u32::from(d - b'0'));
        *pos += 1;
    }
    value
}

/// The lowest version mdadm accepts from a running mdmon before it blocks it (3.2.0).
pub const MDADM_MIN_MDMON_VERSION: u32 = 3_002_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32, len: i32) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&magic.to_ne_bytes());
        h[4..].copy_from_slice(&len.to_ne_bytes());
        h
    }

    #[test]
    fn decodes_the_three_request_kinds() {
        assert_eq!(
            decode_header(&header(START_MAGIC, 0)),
            Ok(Request::PingMonitor)
        );
        assert_eq!(
            decode_header(&header(START_MAGIC, -1)),
            Ok(Request::PingManager)
        );
        assert_eq!(
            decode_header(&header(START_MAGIC, 1)),
            Ok(Request::Update { len: 1 })
        );
        assert_eq!(
            decode_header(&header(START_MAGIC, MAX_PAYLOAD as i32)),
            Ok(Request::Update { len: MAX_PAYLOAD })
        );
    }

    #[test]
    fn refuses_bad_magic_and_lengths() {
        assert_eq!(
            decode_header(&header(END_MAGIC, 0)),
            Err(FrameError::BadStartMagic(END_MAGIC))
        );
        assert_eq!(
            decode_header(&header(START_MAGIC, -2)),
            Err(FrameError::NegativeLength(-2))
        );
        assert_eq!(
            decode_header(&header(START_MAGIC, i32::MIN)),
            Err(FrameError::NegativeLength(i32::MIN))
        );
        let over = MAX_PAYLOAD as i32 + 1;
        assert_eq!(
            decode_header(&header(START_MAGIC, over)),
            Err(FrameError::TooLong(over))
        );
        assert_eq!(
            decode_header(&header(START_MAGIC, i32::MAX)),
            Err(FrameError::TooLong(i32::MAX))
        );
    }

    #[test]
    fn checks_the_end_magic() {
        assert_eq!(check_end(&END_MAGIC.to_ne_bytes()), Ok(()));
        assert_eq!(
            check_end(&START_MAGIC.to_ne_bytes()),
            Err(FrameError::BadEndMagic(START_MAGIC))
        );
    }

    #[test]
    fn payload_len_follows_the_kind() {
        assert_eq!(Request::PingMonitor.payload_len(), 0);
        assert_eq!(Request::PingManager.payload_len(), 0);
        assert_eq!(Request::Update { len: 77 }.payload_len(), 77);
    }

    // The byte examples of docs/protocol.md, "Frame", are written for a little-endian host.
    #[cfg(target_endian = "little")]
    #[test]
    fn exact_bytes_of_the_spec_examples() {
        assert_eq!(
            ACK,
            [0xa5, 0xa5, 0x5a, 0x5a, 0, 0, 0, 0, 0x5a, 0x5a, 0xa5, 0xa5]
        );
        assert_eq!(
            PING_MANAGER,
            [0xa5, 0xa5, 0x5a, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x5a, 0x5a, 0xa5, 0xa5]
        );
        // The spec's version example, built with the generic encoder.
        let text = b"mdadm - v4.6 - 2026-03-16\n\0";
        let mut buf = [0u8; 64];
        let n = encode_frame(text, &mut buf).unwrap();
        assert_eq!(n, 39);
        assert_eq!(&buf[..8], &[0xa5, 0xa5, 0x5a, 0x5a, 0x1b, 0, 0, 0]);
        assert_eq!(&buf[8..35], text);
        assert_eq!(&buf[35..39], &[0x5a, 0x5a, 0xa5, 0xa5]);
        // An update of 3 bytes.
        let n = encode_frame(&[1, 2, 3], &mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &[0xa5, 0xa5, 0x5a, 0x5a, 3, 0, 0, 0, 1, 2, 3, 0x5a, 0x5a, 0xa5, 0xa5]
        );
    }

    #[test]
    fn version_reply_is_a_frame_around_the_version_text() {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&VERSION_REPLY[..HEADER_LEN]);
        assert_eq!(
            decode_header(&h),
            Ok(Request::Update { len: VERSION.len() })
        );
        assert_eq!(
            &VERSION_REPLY[HEADER_LEN..HEADER_LEN + VERSION.len()],
            VERSION.as_bytes()
        );
        let mut t = [0u8; TRAILER_LEN];
        t.copy_from_slice(&VERSION_REPLY[VERSION_REPLY_LEN - TRAILER_LEN..]);
        assert_eq!(check_end(&t), Ok(()));
        let mut buf = [0u8; VERSION_REPLY_LEN];
        assert_eq!(
            encode_frame(VERSION.as_bytes(), &mut buf),
            Ok(VERSION_REPLY_LEN)
        );
        assert_eq!(buf, VERSION_REPLY);
    }

    #[test]
    fn version_text_passes_mdadms_parser() {
        assert!(VERSION.ends_with("\n\0"));
        assert!(VERSION.starts_with("mdadm - v4.6 - mdmon-rs "));
        let v = mdadm_version(VERSION.as_bytes()).expect("mdadm must parse our version");
        assert_eq!(v, 4_006_000);
        assert!(v >= MDADM_MIN_MDMON_VERSION);
    }

    #[test]
    fn mdadm_version_parser_matches_mdadm() {
        assert_eq!(
            mdadm_version(b"mdadm - v4.2 - 2021-12-30\n\0"),
            Some(4_002_000)
        );
        assert_eq!(
            mdadm_version(b"mdadm - v3.2.5 - 18th May 2012\n"),
            Some(3_002_005)
        );
        assert_eq!(mdadm_version(b"mdadm - v4.3-rc1 - x"), Some(4_003_000));
        assert_eq!(mdadm_version(b"mdadm v4.2"), None);
        assert_eq!(mdadm_version(b"mdadm - 4.2 - x"), None);
        assert_eq!(mdadm_version(b"mdadm - v4 - x"), None);
        assert_eq!(mdadm_version(b"mdadm - v4.2"), None);
        assert_eq!(mdadm_version(b"mdadm - v4.2x"), None);
        assert_eq!(mdadm_version(b""), None);
    }

    #[test]
    fn encode_frame_refuses_small_buffers() {
        let mut small = [0u8; 12];
        assert_eq!(encode_frame(&[], &mut small), Ok(12));
        assert_eq!(small, ACK);
        assert_eq!(
            encode_frame(&[1], &mut small),
            Err(EncodeError::BufferTooSmall { needed: 13 })
        );
    }

    #[test]
    fn encode_frame_refuses_payloads_no_receiver_accepts() {
        static OVERSIZE: [u8; MAX_PAYLOAD + 1] = [0; MAX_PAYLOAD + 1];
        let mut out = [0u8; 16];
        assert_eq!(
            encode_frame(&OVERSIZE, &mut out),
            Err(EncodeError::PayloadTooLong {
                len: MAX_PAYLOAD + 1
            })
        );
    }
}
