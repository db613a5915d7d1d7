//! mdadm's DDF checksum.
//!
//! mdadm computes a reflected CRC-32 (polynomial 0x04C11DB7) with initial value 0 and no
//! final inversion, over the structure with its CRC field (bytes 4..8, the same place in every
//! DDF structure) read as `FF FF FF FF`, and stores the result big-endian. That differs from
//! the zlib CRC only in the two inversions, so it is computed with `crc32fast`: zlib-style
//! CRC seeded with `!0` is `!raw(0, data)`, hence `raw(0, data) = !crc32fast(seed !0)`.

/// Offset of the CRC field inside every DDF structure.
pub const CRC_FIELD: core::ops::Range<usize> = 4..8;

/// mdadm's CRC of `bytes`, taken as they are (no field substitution).
pub fn raw_crc(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
    h.update(bytes);
    !h.finalize()
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
    let mut h = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
    h.update(head);
    h.update(&[0xFF; 4]);
    h.update(tail);
    !h.finalize()
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
    /// inversions commented out, written independently of crc32fast.
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

    #[test]
    fn crc32fast_inverse_equals_reference_on_varied_inputs() {
        let mut data = [0u8; 1000];
        let mut x = 0x1234_5678u32;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        for len in [0usize, 1, 3, 8, 63, 512, 1000] {
            assert_eq!(raw_crc(&data[..len]), reference(&data[..len]), "len {len}");
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
