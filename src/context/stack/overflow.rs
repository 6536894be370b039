//! Stack overflow detection for coframe's guard pages (rule 6).
//!
//! Every guard page a [`ProtectedStack`](super::ProtectedStack) maps is
//! recorded in a fixed, lock-free table. A SIGSEGV/SIGBUS handler, installed
//! once on the first mapping, runs on the thread's alternate signal stack
//! (the stack that overflowed is unusable) and looks the faulting address up:
//!
//! - inside a coframe guard page: it writes
//!   `coframe: stack overflow in a coframe stack ...` to stderr with
//!   `write(2)` (async-signal-safe) and aborts;
//! - anywhere else: it chains to the handler that was installed before it
//!   (Rust's own thread-stack overflow handler, usually), or restores the
//!   default action and returns, so the fault repeats and kills the process
//!   as it would have without us.
//!
//! The table: `GUARDS` slots of page addresses, inserted with a CAS from 0
//! at the slot of the page's number modulo `GUARDS` (then linear probing),
//! removed by storing 0. The handler scans the whole table (it runs once,
//! at a crash; a full scan of 4 MiB is milliseconds), so removal needs no
//! tombstones. When the table is full the stack still has its guard page,
//! only the message is lost (the fault then ends the process by the chained
//! handler): memory is never corrupted.
//!
//! The table is zero pages of the process image until written: each 4 KiB
//! page of it becomes resident when a slot in it is first used. Slots follow
//! the addresses, so stacks mapped next to each other (the usual case: one
//! 64 KiB stack and its guard page every 17 pages) share the table's pages,
//! 30 to a page — about 140 bytes of resident table per stack. (Hashed
//! slots cost a page per stack for the first few hundred stacks, 1.2 to
//! 2.7 KiB per stack at 1,000 stacks depending on how many runs of
//! addresses they came in: a server's memory per idle connection.)
//!
//! Every thread that creates a protected stack gets an alternate signal
//! stack if it has none (threads spawned by `std` already have one).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

const GUARDS: usize = 1 << 19;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicUsize = AtomicUsize::new(0);
static TABLE: [AtomicUsize; GUARDS] = [EMPTY; GUARDS];
static INSTALL: Once = Once::new();

/// The handlers that were installed before ours: chained to for faults
/// outside coframe guard pages. Written once, before our handler is active.
static mut PREVIOUS_SEGV: Option<libc::sigaction> = None;
static mut PREVIOUS_BUS: Option<libc::sigaction> = None;

/// The first slot tried for the guard page at `page`: its page number
/// modulo the table size (see the module docs for why not a hash).
fn slot_of(page: usize) -> usize {
    (page / 4096) & (GUARDS - 1)
}

/// Records the guard page starting at `page`, installing the handler first.
pub(crate) fn register_guard(page: usize) {
    INSTALL.call_once(install);
    ensure_altstack();
    let start = slot_of(page);
    for i in 0..GUARDS {
        let slot = &TABLE[(start + i) & (GUARDS - 1)];
        if slot
            .compare_exchange(0, page, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    }
    // Table full: the guard page still protects memory; only the message is lost.
}

/// Forgets the guard page starting at `page`.
pub(crate) fn unregister_guard(page: usize) {
    let start = slot_of(page);
    for i in 0..GUARDS {
        let slot = &TABLE[(start + i) & (GUARDS - 1)];
        if slot
            .compare_exchange(page, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    }
}

/// Whether `addr` falls inside a registered guard page.
fn is_guard(addr: usize) -> bool {
    let page_size = super::StackTraits::page_size();
    let page = addr & !(page_size - 1);
    page != 0 && TABLE.iter().any(|s| s.load(Ordering::Relaxed) == page)
}

fn install() {
    // SAFETY: only the statics' addresses are taken, no reference. (Rust
    // 1.82 made this safe; the crate's minimum, 1.80, asks for the block.)
    #[allow(unused_unsafe)]
    let previous = unsafe {
        [
            std::ptr::addr_of_mut!(PREVIOUS_SEGV),
            std::ptr::addr_of_mut!(PREVIOUS_BUS),
        ]
    };
    for (sig, prev) in [libc::SIGSEGV, libc::SIGBUS].into_iter().zip(previous) {
        // SAFETY: zeroed sigaction is a valid "no handler" value, filled below;
        // PREVIOUS_* are written here, once, before the handler can run.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &action, &mut old) == 0 {
                *prev = Some(old);
            }
        }
    }
}

thread_local! {
    static ALTSTACK_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Gives this thread an alternate signal stack if it has none. The stack is
/// leaked on purpose: it must outlive every signal the thread may take.
#[inline(never)]
fn ensure_altstack() {
    if ALTSTACK_CHECKED.with(|c| c.replace(true)) {
        return;
    }
    // SAFETY: querying the current alternate stack with a valid out-pointer.
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut cur) != 0 {
            return;
        }
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            return; // std (or the application) already gave us one
        }
        let size = libc::SIGSTKSZ.max(64 * 1024);
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: size,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

fn write_stderr(parts: &[&[u8]]) {
    for p in parts {
        // SAFETY: write(2) of a valid buffer; async-signal-safe.
        unsafe { libc::write(2, p.as_ptr().cast(), p.len()) };
    }
}

fn hex(mut v: usize, buf: &mut [u8; 18]) -> &[u8] {
    buf[0] = b'0';
    buf[1] = b'x';
    for i in (2..18).rev() {
        buf[i] = b"0123456789abcdef"[v & 15];
        v >>= 4;
    }
    &buf[..]
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if is_guard(addr) {
        let mut buf = [0u8; 18];
        write_stderr(&[
            b"\ncoframe: stack overflow in a coframe stack (fault at ",
            hex(addr, &mut buf),
            b", inside a guard page); give the fiber, coroutine or stackful task a larger stack\n",
        ]);
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    // Not ours: chain to the previous handler.
    // SAFETY: PREVIOUS_* were written before this handler was installed and
    // never change afterwards.
    let prev = unsafe {
        if sig == libc::SIGSEGV {
            *std::ptr::addr_of!(PREVIOUS_SEGV)
        } else {
            *std::ptr::addr_of!(PREVIOUS_BUS)
        }
    };
    match prev {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was registered as a SA_SIGINFO
                // handler with exactly this signature.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: a plain handler takes the signal number only.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // Restore the default action; returning re-executes the faulting
            // instruction, which now kills the process as it would have.
            // SAFETY: resetting a signal disposition.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guard pages of 1,000 stacks mapped side by side (64 KiB and a guard
    /// page each) use few of the table's pages: a page of the table
    /// becomes resident at its first use, and the server with 1,000 idle
    /// connections pays for every one (a hashed slot spreads them over
    /// about 300 pages, 1.2 KiB per stack).
    #[test]
    fn neighbouring_stacks_share_table_pages() {
        let base = 0x7f12_3456_7000usize;
        let stride = 64 * 1024 + 4096;
        let pages: std::collections::HashSet<usize> = (0..1000)
            .map(|i| slot_of(base - i * stride) * std::mem::size_of::<AtomicUsize>() / 4096)
            .collect();
        assert!(
            pages.len() <= 40,
            "{} table pages for 1,000 stacks",
            pages.len()
        );
    }

    /// Two guard pages with the same first slot are both found, and either
    /// can go first. The addresses are beyond any user address space, so
    /// no real guard page of another test can be one of them.
    #[test]
    fn colliding_guard_pages_are_found_and_forgotten() {
        let a = 0xdead_0000_0000_0000usize;
        let b = a + GUARDS * 4096;
        assert_eq!(slot_of(a), slot_of(b));
        register_guard(a);
        register_guard(b);
        assert!(is_guard(a + 100) && is_guard(b + 4095));
        unregister_guard(a);
        assert!(!is_guard(a) && is_guard(b));
        unregister_guard(b);
        assert!(!is_guard(b));
    }
}
