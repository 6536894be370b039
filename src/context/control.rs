//! The top of a fiber's or coroutine's stack, shared by both: where the
//! control record and the closure go, and the type-erased functions that
//! drop a closure that never ran and give the stack back.
//!
//! ```text
//!   top ─┬──────────────────────┐
//!        │ colour (0..31 lines) │  unused: staggers the hot lines below
//!        ├──────────────────────┤
//!        │ Extra<F, S>          │  the closure and the stack allocator
//!        ├──────────────────────┤
//!        │ record (Rec)         │  aligned to max(align_of, 16)
//!        ├──────────────────────┤  <- sp for make_fcontext: the record
//!        │ at least MIN_FRAMES  │
//!        ⋮  for the code        ⋮
//!  limit └──────────────────────┘
//! ```

//!
//! # Colouring
//!
//! Stacks are mapped at page-aligned, usually equally spaced addresses, so
//! without care the record, the closure and the first frames of every stack
//! sit at the same offset in their page and compete for the same few cache
//! sets: a thousand suspended coroutines resumed in turn would miss the
//! cache on every control record (measured with 1,000 stackful tasks: README,
//! Design measurements). The layout therefore starts below an
//! unused *colour* of 0 to 31 cache lines, chosen by hashing the stack's
//! page number (Fibonacci hashing: any spacing of stacks spreads over all
//! colours), so consecutive stacks use different cache sets. The colour
//! costs at most 1,984 bytes of the stack's top page, which the record
//! touches anyway.

use super::stack::{Stack, StackAllocator, StackError, STACK_ALIGN};
use std::mem::ManuallyDrop;

/// Usable stack that must remain below the control block and closure.
const MIN_FRAMES: usize = 4096;
/// Colours (cache lines of offset below the top); a power of two.
const COLOURS: usize = 32;
const LINE: usize = 64;

/// The colour offset, in bytes, for the stack whose top is `top`.
#[inline]
fn colour(top: usize) -> usize {
    let page = (top >> 12) as u32;
    let hash = page.wrapping_mul(0x9E37_79B1) >> (32 - COLOURS.trailing_zeros());
    hash as usize * LINE
}

/// What is moved onto the stack below the record.
pub(crate) struct Extra<F, S> {
    pub(crate) f: ManuallyDrop<F>,
    pub(crate) alloc: ManuallyDrop<S>,
}

/// Where things go on a freshly allocated stack.
pub(crate) struct Placement<Rec, F, S> {
    pub(crate) rec: *mut Rec,
    pub(crate) extra: *mut Extra<F, S>,
    /// The initial stack pointer (16-aligned) and the bytes below it.
    /// (A raw pointer, never null: a `NonNull` here gives the `Result` that
    /// `place` returns a niche, and its packed layout turned every move of
    /// the placement into misaligned copies that defeat store forwarding.)
    pub(crate) sp: *mut u8,
    pub(crate) frames: usize,
}

/// The coloured top of `stack`: [`place`] lays the `Extra` and the record
/// out below it (and [`prefetch_top`] takes it).
#[inline(always)]
pub(crate) fn coloured_top(stack: &Stack) -> usize {
    let top = stack.top().as_ptr() as usize;
    top - colour(top)
}

/// Hints the CPU to fetch, for writing, the two cache lines below the
/// coloured top `at` of a stack, where [`place`] will put the record
/// (called for an allocator's *next* stack, so the misses overlap with the
/// current task's work). Two lines, not more: the frames below are written
/// first by the new stack's own code, late enough; prefetching eight lines,
/// or none, measured slower per stackful spawn (README, Design
/// measurements).
#[inline(always)]
pub(crate) fn prefetch_top(at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        let at = at as *const i8;
        // SAFETY: prefetching is a hint; it never faults, whatever the
        // address (wrapping_sub: no provenance or bounds are claimed).
        unsafe {
            _mm_prefetch::<_MM_HINT_ET0>(at.wrapping_sub(LINE));
            _mm_prefetch::<_MM_HINT_ET0>(at.wrapping_sub(2 * LINE));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Takes a stack from `alloc` and lays out a record `Rec` and an
/// `Extra<F, S>` at its top, the record lowest: the initial stack pointer
/// is the record's address, so the word at the base of a coroutine's stack
/// is the record's first field (the compact trampoline's CFI reads the
/// resumer's block there: `asm/x86_64_sysv_elf.S`, "Backtraces"). Gives
/// the stack back and fails if fewer than `MIN_FRAMES` bytes would be left
/// to run on.
#[inline(always)]
pub(crate) fn place<Rec, F, S: StackAllocator>(
    alloc: &S,
) -> Result<(Stack, Placement<Rec, F, S>), StackError> {
    let stack = alloc.allocate()?;
    let top = coloured_top(&stack);
    let extra =
        top.wrapping_sub(std::mem::size_of::<Extra<F, S>>()) & !(align_above::<Rec, F, S>() - 1);
    let rec = extra.wrapping_sub(record_span::<Rec, F, S>());
    let limit = stack.limit() as usize;
    // `rec > top`: a closure larger than the address space below the top.
    if rec < limit + MIN_FRAMES || rec > top {
        // SAFETY: the stack came from `alloc` and nothing runs on it.
        unsafe { alloc.deallocate(stack) };
        return Err(StackError::Invalid(
            "the closure does not fit on the stack with room to run",
        ));
    }
    let placement = Placement {
        rec: rec as *mut Rec,
        extra: extra as *mut Extra<F, S>,
        sp: rec as *mut u8,
        frames: rec - limit,
    };
    Ok((stack, placement))
}

/// The alignment of both the record and the `Extra` above it (and of the
/// initial stack pointer, the record's address).
#[inline(always)]
const fn align_above<Rec, F, S>() -> usize {
    let r = std::mem::align_of::<Rec>();
    let e = std::mem::align_of::<Extra<F, S>>();
    let a = if r > e { r } else { e };
    if a > STACK_ALIGN {
        a
    } else {
        STACK_ALIGN
    }
}

/// The bytes from the record to the `Extra`: the record's size rounded up
/// to [`align_above`].
#[inline(always)]
const fn record_span<Rec, F, S>() -> usize {
    let a = align_above::<Rec, F, S>();
    (std::mem::size_of::<Rec>() + a - 1) & !(a - 1)
}

/// Where [`place`] put the `Extra<F, S>` above the record at `rec`: code
/// that knows the types finds it without a stored pointer (an address
/// computation, no load).
#[inline(always)]
pub(crate) fn extra_above<Rec, F, S>(rec: *mut Rec) -> *mut Extra<F, S> {
    (rec as usize + record_span::<Rec, F, S>()) as *mut Extra<F, S>
}

/// Gives a stack back to its allocator, which lives in the `Extra<F, S>`
/// on that very stack.
///
/// # Safety
///
/// `extra` is the `Extra<F, S>` on `stack`, whose closure was already taken
/// or dropped, and nothing runs on `stack` any more.
// Always inlined: as a call of its own it takes the `Stack` by reference,
// which put the stack's words through memory (16-byte copies the word
// loads after them waited on: seen with perf in the benches).
#[inline(always)]
pub(crate) unsafe fn release<F, S: StackAllocator>(extra: *mut u8, stack: Stack) {
    // SAFETY: per the contract; the allocator is moved out before the memory
    // it lives in is released.
    unsafe {
        let alloc = ManuallyDrop::take(&mut (*(extra as *mut Extra<F, S>)).alloc);
        alloc.deallocate(stack);
    }
}

/// Drops the closure of a fiber or coroutine that never ran.
///
/// # Safety
///
/// `extra` is an `Extra<F, S>` whose closure was never taken.
pub(crate) unsafe fn drop_f<F, S>(extra: *mut u8) {
    // SAFETY: per the contract.
    unsafe { ManuallyDrop::drop(&mut (*(extra as *mut Extra<F, S>)).f) }
}
