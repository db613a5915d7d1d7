//! The rules: functions and syscalls the monitor thread must never reach, by category.

use super::*;

pub(super) fn forbidden(name: &str) -> Option<Category> {
    // Last path segment without generic arguments: "core::panicking::panic_fmt" ->
    // "panic_fmt"; "<alloc::raw_vec::RawVecInner>::deallocate" -> "deallocate".
    let base = name.split('<').next().unwrap_or(name);
    let last = name.rsplit("::").next().unwrap_or(name);
    let last = last.split('<').next().unwrap_or(last);
    const ALLOC: &[&str] = &[
        "malloc",
        "calloc",
        "realloc",
        "free",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "__libc_malloc",
        "__libc_malloc_impl",
        "__libc_free",
        "__libc_calloc",
        "__libc_realloc",
        "__rust_alloc",
        "__rust_dealloc",
        "__rust_realloc",
        "__rust_alloc_zeroed",
        "__rust_alloc_error_handler",
        "handle_alloc_error",
    ];
    const FD: &[&str] = &[
        "open",
        "open64",
        "openat",
        "openat64",
        "creat",
        "socket",
        "socketpair",
        "accept",
        "accept4",
        "pipe",
        "pipe2",
        "dup",
        "dup2",
        "dup3",
        "mmap",
        "mmap64",
        "mremap",
        "munmap",
        "brk",
        "sbrk",
        "eventfd",
        "signalfd",
        "epoll_create",
        "epoll_create1",
        "memfd_create",
        "io_setup",
        "timerfd_create",
        "inotify_init",
        "inotify_init1",
        "fopen",
        "fdopen",
        "opendir",
        "__map_file",
    ];
    const PROC: &[&str] = &[
        "fork",
        "_Fork",
        "vfork",
        "clone",
        "__clone",
        "execve",
        "execv",
        "execvp",
        "execvpe",
        "posix_spawn",
        "posix_spawnp",
        "system",
        "pthread_create",
    ];
    const FMT: &[&str] = &[
        "rust_begin_unwind",
        "rust_panic",
        "__rust_start_panic",
        "abort",
        "__assert_fail",
        "printf",
        "fprintf",
        "sprintf",
        "snprintf",
        "vfprintf",
        "vsnprintf",
        "dprintf",
        "printf_core",
        "write_fmt",
    ];
    // C symbols (musl) by exact name; Rust paths by their crate-level path, never by the
    // last segment alone (`count_failed` or `Vec::clone` are ordinary functions).
    let c_symbol = !name.contains("::");
    let rust_alloc = ALLOC.contains(&last) && name.starts_with("__rustc::");
    if (c_symbol && ALLOC.contains(&name))
        || rust_alloc
        || name.starts_with("__rustc::__rdl_")
        || name.starts_with("__rustc::__rg_")
        || name.starts_with("__rdl_")
        || name.starts_with("__rg_")
        || base.starts_with("alloc::alloc::")
        || name.contains("alloc::raw_vec::")
    {
        return Some(Category::Allocator);
    }
    if c_symbol && FD.contains(&name) {
        return Some(Category::Descriptor);
    }
    if c_symbol && PROC.contains(&name) {
        return Some(Category::Process);
    }
    let in_std =
        base.starts_with("core::") || base.starts_with("std::") || base.starts_with("alloc::");
    if (c_symbol && FMT.contains(&name))
        || (name.starts_with("__rustc::") && FMT.contains(&last))
        || base.starts_with("core::panicking::")
        || base.starts_with("std::panicking::")
        || base.starts_with("core::fmt::")
        || base.starts_with("alloc::fmt::")
        || base.starts_with("std::process::abort")
        || name.contains("::write_fmt")
        || name.contains(" as core::fmt::")
        || (in_std
            && (last.contains("panic") || last.ends_with("_fail") || last.ends_with("_failed")))
    {
        return Some(Category::PanicOrFormat);
    }
    None
}

/// x86_64 syscall numbers a monitor thread must never make.
pub(super) fn forbidden_syscall(nr: u64) -> Option<Category> {
    match nr {
        2 | 257 | 85 | 41 | 53 | 43 | 288 | 22 | 293 | 32 | 33 | 292 | 284 | 290 | 282 | 289
        | 213 | 291 | 319 | 206 | 283 | 253 | 294 | 437 | 304 | 434 | 323 | 298 | 300 => {
            Some(Category::Descriptor)
        }
        9 | 11 | 12 | 25 => Some(Category::Allocator),
        56 | 57 | 58 | 59 | 322 | 435 => Some(Category::Process),
        _ => None,
    }
}

pub(crate) fn syscall_name(nr: u64) -> String {
    let name = match nr {
        0 => "read",
        1 => "write",
        2 => "open",
        3 => "close",
        4 => "stat",
        5 => "fstat",
        6 => "lstat",
        7 => "poll",
        8 => "lseek",
        9 => "mmap",
        10 => "mprotect",
        11 => "munmap",
        12 => "brk",
        13 => "rt_sigaction",
        14 => "rt_sigprocmask",
        15 => "rt_sigreturn",
        16 => "ioctl",
        17 => "pread64",
        18 => "pwrite64",
        19 => "readv",
        20 => "writev",
        22 => "pipe",
        23 => "select",
        24 => "sched_yield",
        25 => "mremap",
        28 => "madvise",
        32 => "dup",
        33 => "dup2",
        35 => "nanosleep",
        39 => "getpid",
        41 => "socket",
        43 => "accept",
        53 => "socketpair",
        56 => "clone",
        57 => "fork",
        58 => "vfork",
        59 => "execve",
        60 => "exit",
        62 => "kill",
        72 => "fcntl",
        74 => "fsync",
        75 => "fdatasync",
        85 => "creat",
        96 => "gettimeofday",
        131 => "sigaltstack",
        157 => "prctl",
        186 => "gettid",
        200 => "tkill",
        202 => "futex",
        206 => "io_setup",
        207 => "io_destroy",
        208 => "io_getevents",
        209 => "io_submit",
        210 => "io_cancel",
        213 => "epoll_create",
        228 => "clock_gettime",
        230 => "clock_nanosleep",
        231 => "exit_group",
        234 => "tgkill",
        257 => "openat",
        262 => "newfstatat",
        270 => "pselect6",
        271 => "ppoll",
        273 => "set_robust_list",
        282 => "signalfd",
        283 => "timerfd_create",
        284 => "eventfd",
        288 => "accept4",
        289 => "signalfd4",
        290 => "eventfd2",
        291 => "epoll_create1",
        292 => "dup3",
        293 => "pipe2",
        317 => "seccomp",
        318 => "getrandom",
        319 => "memfd_create",
        332 => "statx",
        333 => "io_pgetevents",
        334 => "rseq",
        435 => "clone3",
        _ => return format!("syscall#{nr}"),
    };
    name.to_string()
}

/// musl's generic entries that take the syscall number as their first argument.
pub(super) const GENERIC_SYSCALL: &[&str] = &[
    "__syscall_cp",
    "__syscall_cp_c",
    "__syscall_cp_asm",
    "syscall",
];

/// The integer constant `reg` holds at instruction `at` (a syscall number in eax, or in
/// edi for a generic entry): every reaching definition must be `mov reg, imm`,
/// `xor reg, reg`, or a copy of a register holding that same constant.
pub(super) fn register_constant(
    f: &Func,
    g: &Cfg,
    at: usize,
    reg: &str,
    depth: u32,
) -> Option<u64> {
    let mut value = None;
    for d in reaching_defs(f, g, at, reg)? {
        let (m, ops) = split_insn(&f.insns[d].1);
        let src = ops.split_once(',').map(|(_, s)| s.trim())?;
        let v = match (m, full_reg(src)) {
            ("mov", None) => hex(src)?,
            ("xor", Some(r)) if r == reg => 0,
            ("mov", Some(r)) if depth > 0 => register_constant(f, g, d, r, depth - 1)?,
            _ => return None,
        };
        if value.is_some_and(|x| x != v) {
            return None;
        }
        value = Some(v);
    }
    value
}
