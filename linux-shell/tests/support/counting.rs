//! A global allocator that counts allocations and frees made by one watched thread: the
//! monitor's iterations run watched, so any allocation on its path (a Vec, a String, a Box,
//! a formatted message) fails the test. The harness's own work (file I/O, loading fixtures)
//! runs unwatched. Shared by the monitor tests (`#[path]`-included; install it with
//! `#[global_allocator] static ALLOCATOR: counting::Counting = counting::Counting;`).
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

pub struct Counting;
/// The kernel thread id being watched (0: not armed).
static WATCHED: AtomicI64 = AtomicI64::new(0);
pub static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn tid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail; it does not allocate.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

fn note() {
    if WATCHED.load(Ordering::Relaxed) == tid() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed unchanged to `System`, which upholds GlobalAlloc's contract;
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        note();
        // SAFETY: as for `dealloc`, and `new` is the caller's valid size.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

/// Runs `f` with this thread watched; returns how many allocations or frees it made.
pub fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    WATCHED.store(tid(), Ordering::SeqCst);
    let r = f();
    WATCHED.store(0, Ordering::SeqCst);
    (r, ALLOCATIONS.load(Ordering::SeqCst) - before)
}
