//! The assembly boundary: `extern` declarations of the switch functions in
//! `asm/`, the [`Transfer`] pair they return, and the [`Switch`] flavour
//! (full or lean) every higher layer switches through.
//!
//! Contract of the assembly (identical on every architecture):
//!
//! ```text
//! make(sp_top, size, entry) -> ctx     prepares a fresh context whose first
//!                                      activation calls entry(Transfer{from, data});
//!                                      entry never returns.
//! jump(ctx, data)  -> Transfer{from, data'}
//!                                      saves the callee-saved state on the current
//!                                      stack, resumes `ctx`; returns when somebody
//!                                      jumps back, with the context it came from.
//! ontop(ctx, data, f) -> Transfer      resumes `ctx` and calls f(Transfer{from, data})
//!                                      on top of its stack; f's result is what the
//!                                      resumed jump returns.
//! ```
//!
//! The `_lean` variants skip the floating-point control state (MXCSR and the
//! x87 control word on x86_64); the saved block has the same layout, so mixing
//! flavours is memory safe, merely restoring a stale (valid) control word.
//!
//! Coroutines switch through the *compact* functions instead (same
//! semantics, a four-word block): they are not C functions but are called
//! from inline assembly that declares every other register clobbered, one
//! file per architecture with the same function set (`raw/x86_64.rs`,
//! `raw/aarch64.rs`); see the "compact convention" in the assembly files.
//! A compact context is switched only by the compact functions, and vice
//! versa. A fresh one is made in Rust ([`make_fresh_compact`]: one word,
//! no call) and entered only by [`Switch::start_compact`]; the assembly's
//! own `make_compact`, which builds the complete block any compact switch
//! may enter, serves its C tests.
//!
//! The switch functions are linked under versioned names: each declaration
//! here and in `raw/<arch>.rs` takes its link name from `switch_symbol!`,
//! the prefix `coframe_<version>_` that build.rs also hands the assembler,
//! and the assembly marks those symbols hidden. Two coframe versions in one
//! binary therefore each call their own switch code, and none of it is
//! exported. The inline `sym` operands of `raw/<arch>.rs` name the same
//! declarations, so they follow.
//!
//! Nothing unwinds through these functions: every Rust function the assembly
//! calls (entry functions, ontop functions) catches panics itself and hands
//! them over as data. They are still declared `C-unwind` so that, should a
//! foreign exception ever pass, it is not undefined behaviour.

use std::ffi::c_void;
use std::ptr::NonNull;

/// An opaque suspended context: a pointer to its saved register block.
pub(crate) type Ctx = NonNull<c_void>;

/// What a switch returns: the context that was suspended to get here, and a
/// data word chosen by whoever switched.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transfer {
    /// The context that just suspended (null only where documented).
    pub(crate) ctx: *mut c_void,
    /// The data word passed along.
    pub(crate) data: *mut c_void,
}

/// An entry function of a fresh context.
pub(crate) type EntryFn = unsafe extern "C-unwind" fn(Transfer) -> !;
/// A function run on top of a resumed context.
pub(crate) type OntopFn = unsafe extern "C-unwind" fn(Transfer) -> Transfer;

/// The link name of the switch function `$name` (e.g. `"jump_fcontext"`):
/// the versioned prefix `coframe_<version>_` that build.rs gives both the
/// assembler and this crate, followed by `$name`. Every declaration of a
/// switch function, here and in `raw/<arch>.rs`, takes its name from here.
macro_rules! switch_symbol {
    ($name:literal) => {
        concat!(env!("COFRAME_SYMBOL_PREFIX"), $name)
    };
}

#[cfg_attr(target_arch = "x86_64", path = "raw/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "raw/aarch64.rs")]
mod arch;

extern "C-unwind" {
    #[link_name = switch_symbol!("make_fcontext")]
    fn coframe_make_fcontext(sp: *mut c_void, size: usize, f: EntryFn) -> *mut c_void;
    #[link_name = switch_symbol!("jump_fcontext")]
    fn coframe_jump_fcontext(to: *mut c_void, data: *mut c_void) -> Transfer;
    #[link_name = switch_symbol!("ontop_fcontext")]
    fn coframe_ontop_fcontext(to: *mut c_void, data: *mut c_void, f: OntopFn) -> Transfer;
    #[link_name = switch_symbol!("jump_fcontext_lean")]
    fn coframe_jump_fcontext_lean(to: *mut c_void, data: *mut c_void) -> Transfer;
    #[link_name = switch_symbol!("ontop_fcontext_lean")]
    fn coframe_ontop_fcontext_lean(to: *mut c_void, data: *mut c_void, f: OntopFn) -> Transfer;
}

/// Prepares a fresh context on the stack whose highest usable address is
/// `top` and whose usable size is `size`.
///
/// # Safety
///
/// `[top - size, top)` must be writable memory that stays valid until the
/// context finishes, and `entry` must never return.
#[inline]
pub(crate) unsafe fn make(top: NonNull<u8>, size: usize, entry: EntryFn) -> Ctx {
    // SAFETY: forwarded contract; the assembly writes below `top` only.
    let ctx = unsafe { coframe_make_fcontext(top.as_ptr().cast(), size, entry) };
    NonNull::new(ctx).expect("coframe_make_fcontext returned null")
}

/// Prepares a fresh *compact* context (see the module docs) that only
/// [`Switch::start_compact`] will ever enter. Of the block the assembly's
/// `make_compact` builds, it writes the one word `start` reads, the entry
/// function, here in Rust, with no call; the words a `jump` or `ontop` into
/// a fresh block would read (the resume address, RBP/X29, the "no FP state"
/// marker) are left unwritten. Same geometry as `make_compact`: the block
/// lies `arch::FRESH_BLOCK` bytes below the 16-aligned `top`, where `start`
/// puts the new context's stack pointer.
///
/// # Safety
///
/// As for [`make`]; the context is entered by [`Switch::start_compact`]
/// and by nothing else.
#[inline(always)]
pub(crate) unsafe fn make_fresh_compact(top: NonNull<u8>, entry: EntryFn) -> Ctx {
    let block = ((top.as_ptr() as usize) & !15) - arch::FRESH_BLOCK;
    // SAFETY: per the contract, the bytes below `top` are ours; the block is
    // 8-aligned (16-aligned top minus a multiple of 8).
    unsafe {
        (block as *mut EntryFn).write(entry);
        NonNull::new_unchecked(block as *mut c_void)
    }
}

/// Which switch functions a context uses: the default preserves the
/// floating-point control state, `Lean` does not (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Switch {
    /// Saves and restores the FP control state (MXCSR and x87 control word on
    /// x86_64), as the SysV ABI requires of callee-saved state. The default.
    ///
    /// A fresh context has no state of its own until it first runs: it starts
    /// in the mode of whoever first resumes it, as a called closure would
    /// (Boost records the creator's instead, which costs reading MXCSR per
    /// context made, a slow instruction on some cores).
    #[default]
    Full,
    /// Leaves the FP control state alone: a few nanoseconds cheaper per round
    /// trip, correct for code that never changes rounding modes or exception
    /// masks (Rust code cannot change them without undefined behaviour).
    Lean,
}

impl Switch {
    /// Resumes `to`, handing it `data`.
    ///
    /// # Safety
    ///
    /// `to` must be a suspended context that is not resumed anywhere else
    /// (contexts are one-shot), whose stack is alive.
    #[inline(always)]
    pub(crate) unsafe fn jump(self, to: Ctx, data: *mut c_void) -> Transfer {
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                Switch::Full => coframe_jump_fcontext(to.as_ptr(), data),
                Switch::Lean => coframe_jump_fcontext_lean(to.as_ptr(), data),
            }
        }
    }

    /// Resumes `to` and runs `f` on top of its stack first.
    ///
    /// # Safety
    ///
    /// As for [`Switch::jump`]; `f` must not unwind.
    #[inline(always)]
    pub(crate) unsafe fn ontop(self, to: Ctx, data: *mut c_void, f: OntopFn) -> Transfer {
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                Switch::Full => coframe_ontop_fcontext(to.as_ptr(), data, f),
                Switch::Lean => coframe_ontop_fcontext_lean(to.as_ptr(), data, f),
            }
        }
    }
}

impl Switch {
    /// Resumes the compact context `to`, handing it `data`.
    ///
    /// # Safety
    ///
    /// As for [`Switch::jump`], and `to` was suspended by a compact switch.
    #[inline(always)]
    pub(crate) unsafe fn jump_compact(self, to: Ctx, data: *mut c_void) -> Transfer {
        // SAFETY: forwarded contract.
        unsafe { arch::jump(self == Switch::Full, to.as_ptr(), data) }
    }

    /// The first switch into a fresh compact context: [`Switch::jump_compact`]
    /// for a block that [`make_fresh_compact`] made and nothing resumed yet
    /// (it reads the entry function and nothing else of the block). It
    /// keeps the loads of `jump_compact` for blocks that a switch stored,
    /// which some CPUs' load-forwarding predictors need (the assembly's
    /// "First activation").
    ///
    /// # Safety
    ///
    /// As for [`Switch::jump_compact`], and `to` was made by
    /// [`make_fresh_compact`] and never resumed.
    #[inline(always)]
    pub(crate) unsafe fn start_compact(self, to: Ctx, data: *mut c_void) -> Transfer {
        // SAFETY: forwarded contract.
        unsafe { arch::start(self == Switch::Full, to.as_ptr(), data) }
    }

    /// Like [`Switch::jump_compact`], for a coroutine returning to its
    /// resumer.
    ///
    /// # Safety
    ///
    /// As for [`Switch::jump_compact`].
    #[inline(always)]
    pub(crate) unsafe fn yield_compact(self, to: Ctx, data: *mut c_void) -> Transfer {
        // SAFETY: forwarded contract.
        unsafe { arch::yield_to(self == Switch::Full, to.as_ptr(), data) }
    }

    /// [`Switch::yield_compact`] for the last switch of a coroutine, whose
    /// context is never resumed: it returns nothing, keeps nothing live and
    /// costs its caller no saved registers.
    ///
    /// # Safety
    ///
    /// As for [`Switch::jump_compact`]; nothing resumes the calling context.
    #[inline(always)]
    pub(crate) unsafe fn yield_final(self, to: Ctx, data: *mut c_void) -> ! {
        // SAFETY: forwarded contract.
        unsafe { arch::yield_final(self == Switch::Full, to.as_ptr(), data) }
    }

    /// Resumes the compact context `to` and runs `f` on top of its stack.
    ///
    /// # Safety
    ///
    /// As for [`Switch::jump_compact`]; `f` must not unwind.
    #[inline(always)]
    pub(crate) unsafe fn ontop_compact(self, to: Ctx, data: *mut c_void, f: OntopFn) -> Transfer {
        // SAFETY: forwarded contract.
        unsafe { arch::ontop(self == Switch::Full, to.as_ptr(), data, f) }
    }
}

/// Unwraps the context a switch came from.
#[inline(always)]
pub(crate) fn from_ctx(t: &Transfer) -> Ctx {
    debug_assert!(!t.ctx.is_null());
    // SAFETY: every switch in this crate names the context it suspended; the
    // assembly never hands over null except where a caller documents it.
    unsafe { NonNull::new_unchecked(t.ctx) }
}
