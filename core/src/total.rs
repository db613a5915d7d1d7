//! Total replacements for the few standard collection operations the monitor path needs
//! whose library versions carry a panic path.
//!
//! The monitor thread applies updates and writes metadata while the kernel may be holding
//! writes for it; `cargo xtask audit` proves from the release binary that nothing it can
//! reach panics. `heapless::Vec::remove` asserts its index, `slice::sort_unstable*`
//! checks the comparator for order violations and panics on one: neither can fire where
//! we call them, but the compiler cannot see that, so the panic stays reachable in the
//! binary. These versions have no failure case to begin with: every access is a checked
//! `get`, and an index that is out of range is a no-op the caller sees.

use core::cmp::Ordering;

/// Removes the element at `index`, keeping the order of the rest (`Vec::remove`).
/// Returns false, changing nothing, when `index` is out of range.
pub fn remove_at<T, const N: usize>(v: &mut heapless::Vec<T, N>, index: usize) -> bool {
    if index >= v.len() {
        return false;
    }
    // `retain` visits each element once in order and has no panic path of its own.
    let mut at = 0usize;
    v.retain(|_| {
        let keep = at != index;
        at = at.wrapping_add(1);
        keep
    });
    true
}

/// Sorts `s` by `cmp` (insertion sort: the slices sorted on the monitor path hold a few
/// volumes or members, never more than a few dozen). Stable; a comparator that is not a
/// total order leaves some order, never a panic.
pub fn sort_small_by<T>(s: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    for i in 1..s.len() {
        // Sink element i left while its left neighbour is greater.
        let mut j = i;
        while let Some([a, b]) = j.checked_sub(1).and_then(|k| s.get_mut(k..=j)) {
            if cmp(a, b) != Ordering::Greater {
                break;
            }
            core::mem::swap(a, b);
            j -= 1;
        }
    }
}

/// [`sort_small_by`] in `Ord` order.
pub fn sort_small<T: Ord>(s: &mut [T]) {
    sort_small_by(s, T::cmp);
}

/// `dst.copy_from_slice(src)` without its length-mismatch panic: false (and nothing copied)
/// when the lengths differ.
pub fn copy_exact(dst: &mut [u8], src: &[u8]) -> bool {
    if dst.len() != src.len() {
        return false;
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapless::Vec;

    #[test]
    fn remove_at_matches_vec_remove() {
        for len in 0..6usize {
            for idx in 0..8usize {
                let mut ours: Vec<usize, 8> = (0..len).collect();
                let mut theirs: std::vec::Vec<usize> = (0..len).collect();
                let removed = remove_at(&mut ours, idx);
                assert_eq!(removed, idx < len);
                if idx < len {
                    theirs.remove(idx);
                }
                assert_eq!(ours.as_slice(), theirs.as_slice(), "len {len} idx {idx}");
            }
        }
    }

    #[test]
    fn sort_small_matches_sort() {
        // Every arrangement of a few values with duplicates, ascending and descending.
        let vals = [3u32, 1, 4, 1, 5];
        let mut idx = [0usize; 5];
        loop {
            let mut a: std::vec::Vec<u32> = idx.iter().map(|&i| vals[i]).collect();
            let mut b = a.clone();
            sort_small(&mut a);
            b.sort();
            assert_eq!(a, b);
            sort_small_by(&mut a, |x, y| y.cmp(x));
            b.reverse();
            assert_eq!(a, b);
            // Next index tuple (base 5).
            let mut k = 0;
            loop {
                if k == idx.len() {
                    return;
                }
                idx[k] += 1;
                if idx[k] < vals.len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }

    #[test]
    fn sort_small_survives_a_bad_comparator() {
        let mut a = [5u8, 2, 9, 1, 7, 3];
        sort_small_by(&mut a, |_, _| Ordering::Greater);
        let mut seen = a;
        seen.sort();
        assert_eq!(seen, [1, 2, 3, 5, 7, 9]);
    }
}
