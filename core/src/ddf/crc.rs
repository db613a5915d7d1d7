//! mdadm's DDF checksum.
//!
//! mdadm computes a reflected CRC-32 (polynomial 0x04C11DB7) with initial value 0 and no
//! final inversion, over the structure with its CRC field (bytes 4..8, the same place in every
//! DDF structure) read as `FF FF FF FF`, and stores the result big-endian. That differs from
//! the zlib CRC only in the two inversions.
//!
//! Computed here with our own table-driven (slicing-by-8) function rather than `crc32fast`,
//! which the design names: the monitor thread seals every DDF structure it writes, and
//! crc32fast's portable path (`baseline::update_fast_16`, the one a no_std build gets) indexes
//! its 16-byte blocks through re-sliced `&[u8]`, leaving bounds checks the compiler cannot
//! drop and so a reachable panic that `cargo xtask audit` rejects. Nothing in how we call it
//! can remove checks inside its loop. This version cannot panic by construction: 8-byte
//! blocks come from `chunks_exact` as fixed-size arrays and every table index is a `u8`.
//! crc32fast stays as the reference in the tests (on synthetic data and on every fixture
//! disk, tests/ddf_fixtures.rs), along with an independent bit-by-bit version.

/// Offset of the CRC field inside every DDF structure.
pub const CRC_FIELD: core::ops::Range<usize> = 4..8;

/// Reflected polynomial 0x04C11DB7.
const POLY: u32 = 0xEDB8_8320;

/// Slicing-by-8 tables: `TABLES[0]` is the byte-at-a-time table, `TABLES[k][i]` the CRC of
/// byte `i` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = tables();

const fn tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// Continue a reflected CRC-32 (no inversions) from `crc` over `bytes`.
fn update(mut crc: u32, bytes: &[u8]) -> u32 {
    let t = &TABLES;
    let mut blocks = bytes.chunks_exact(8);
    for block in &mut blocks {
        // Always Some: `chunks_exact(8)` yields 8-byte slices.
        let Some(b) = block.first_chunk::<8>() else {
            continue;
        };
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) ^ crc;
        let hi = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        crc = t[7][usize::from(lo as u8)]
            ^ t[6][usize::from((lo >> 8) as u8)]
            ^ t[5][usize::from((lo >> 16) as u8)]
            ^ t[4][usize::from((lo >> 24) as u8)]
            ^ t[3][usize::from(hi as u8)]
            ^ t[2][usize::from((hi >> 8) as u8)]
            ^ t[1][usize::from((hi >> 16) as u8)]
            ^ t[0][usize::from((hi >> 24) as u8)];
    }
    for &b in blocks.remainder() {
        crc = (crc >> 8) ^ t[0][usize::from(crc as u8 ^ b)];
    }
    crc
}

/// mdadm's CRC of `bytes`, taken as they are (no field substitution).
pub fn raw_crc(bytes: &[u8]) -> u32 {
    update(0, bytes)
}

/// mdadm's CRC of a DDF structure: its CRC field counts as `FF FF FF FF`.
///
/// Structures shorter than 8 bytes have no CRC field; they are checksummed as they are.
pub fn ddf_crc(structure: &[u8]) -> u32 {
    let (Some(head), Some(tail)) = (
        structure.get(..CRC_FIELD.start),
        structure.get(CRC_FIELD.end..),
    ) else {
        return raw_crc(structure);
    };
    update(update(update(0, head), &[0xFF; 4]), tail)
}

/// The CRC stored in a structure (big-endian bytes 4..8), if it is long enough.
pub fn stored_crc(structure: &[u8]) -> Option<u32> {
    let field: [u8; 4] = structure.get(CRC_FIELD)?.try_into().ok()?;
    Some(u32::from_be_bytes(field))
}

/// Whether the stored CRC of `structure` matches its contents.
pub fn crc_ok(structure: &[u8]) -> bool {
    stored_crc(structure) == Some(ddf_crc(structure))
}

/// Recompute and store the CRC of `structure` in place. No-op on buffers under 8 bytes.
pub fn seal(structure: &mut [u8]) {
    let crc = ddf_crc(structure);
    if let Some(field) = structure.get_mut(CRC_FIELD) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit reflected CRC-32, init 0, no final XOR: mdadm's `crc32.c` with the
    /// inversions commented out, written independently of crc32fast and of our tables.
    fn reference(bytes: &[u8]) -> u32 {
        let mut crc = 0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value_matches_spec() {
        assert_eq!(raw_crc(b"123456789"), 0x2DFD_2D88);
        assert_eq!(reference(b"123456789"), 0x2DFD_2D88);
    }

    #[test]
    fn header_vector_matches_spec() {
        let mut block = [0xFFu8; 512];
        block[..4].copy_from_slice(&[0xDE, 0x11, 0xDE, 0x11]);
        assert_eq!(ddf_crc(&block), 0x4D74_5A12);
        // The CRC field is already FF, so substitution changes nothing here.
        assert_eq!(raw_crc(&block), 0x4D74_5A12);
    }

    /// crc32fast (zlib convention) seeded with `!0` and inverted is mdadm's CRC.
    fn via_crc32fast(bytes: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
        h.update(bytes);
        !h.finalize()
    }

    #[test]
    fn ours_equals_crc32fast_and_reference_at_every_length_and_offset() {
        let mut data = [0u8; 300];
        let mut x = 0x9E37_79B9u32;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        // Every alignment and every remainder of the 8-byte blocks.
        for start in 0..9 {
            for end in start..data.len() {
                let s = &data[start..end];
                let ours = raw_crc(s);
                assert_eq!(ours, via_crc32fast(s), "{start}..{end}");
                assert_eq!(ours, reference(s), "{start}..{end}");
            }
        }
    }

    #[test]
    fn ddf_crc_substitutes_the_field_like_crc32fast() {
        let mut block = [0u8; 1024];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        for len in [8usize, 9, 15, 16, 64, 512, 1000, 1024] {
            let mut substituted = block;
            substituted[4..8].copy_from_slice(&[0xFF; 4]);
            assert_eq!(ddf_crc(&block[..len]), via_crc32fast(&substituted[..len]));
        }
        // Under 8 bytes: no field, the bytes as they are.
        assert_eq!(ddf_crc(&block[..5]), via_crc32fast(&block[..5]));
    }

    #[test]
    fn raw_crc_equals_reference_and_crc32fast_on_varied_inputs() {
        let mut data = [0u8; 1000];
        let mut x = 0x1234_5678u32;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        for len in [0usize, 1, 3, 8, 63, 512, 1000] {
            assert_eq!(raw_crc(&data[..len]), reference(&data[..len]), "len {len}");
            assert_eq!(
                raw_crc(&data[..len]),
                via_crc32fast(&data[..len]),
                "len {len}"
            );
        }
    }

    #[test]
    fn seal_then_verify_and_field_is_ignored() {
        let mut block = [0u8; 64];
        block[0] = 0x22;
        block[20] = 7;
        seal(&mut block);
        assert!(crc_ok(&block));
        let sealed = stored_crc(&block).unwrap();
        // The stored value does not feed into the computation.
        block[4..8].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(ddf_crc(&block), sealed);
        assert!(!crc_ok(&block));
        block[20] = 8;
        assert_ne!(ddf_crc(&block), sealed);
    }
}
