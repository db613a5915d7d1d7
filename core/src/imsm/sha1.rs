//! SHA-1 (FIPS 180-4), only for IMSM's synthetic UUIDs (docs/imsm.md, "Volume UUIDs"): mdadm
//! derives array identities from a SHA-1 digest, so reporting the same UUIDs needs the same
//! hash.
//! Not used for anything security-related.

#[derive(Debug, Clone)]
pub struct Sha1 {
    state: [u32; 5],
    block: [u8; 64],
    filled: usize,
    total: u64,
}

impl Default for Sha1 {
    fn default() -> Self {
        Sha1 {
            state: [
                0x6745_2301,
                0xEFCD_AB89,
                0x98BA_DCFE,
                0x1032_5476,
                0xC3D2_E1F0,
            ],
            block: [0; 64],
            filled: 0,
            total: 0,
        }
    }
}

impl Sha1 {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            if let Some(slot) = self.block.get_mut(self.filled) {
                *slot = b;
            }
            self.filled += 1;
            self.total = self.total.wrapping_add(1);
            if self.filled == 64 {
                self.compress();
                self.filled = 0;
            }
        }
    }

    pub fn finish(mut self) -> [u8; 20] {
        let bits = self.total.wrapping_mul(8);
        self.update(&[0x80]);
        while self.filled != 56 {
            self.update(&[0]);
        }
        for (d, s) in self.block.iter_mut().skip(56).zip(bits.to_be_bytes()) {
            *d = s;
        }
        self.compress();
        let mut out = [0u8; 20];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn compress(&mut self) {
        let mut w = [0u32; 80];
        for (i, c) in self.block.chunks_exact(4).enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *s = s.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Sha1;

    fn hex(d: [u8; 20]) -> [u8; 40] {
        let digits = b"0123456789abcdef";
        let mut out = [0u8; 40];
        for (i, b) in d.iter().enumerate() {
            out[2 * i] = digits[usize::from(b >> 4)];
            out[2 * i + 1] = digits[usize::from(b & 15)];
        }
        out
    }

    #[test]
    fn known_vectors() {
        let mut h = Sha1::default();
        h.update(b"abc");
        assert_eq!(
            &hex(h.finish()),
            b"a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let mut h = Sha1::default();
        h.update(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
        assert_eq!(
            &hex(h.finish()),
            b"84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let h = Sha1::default();
        assert_eq!(
            &hex(h.finish()),
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
