/*
 * coframe stack switch for x86_64, System V ABI, ELF (Linux, *BSD).
 *
 * fcontext semantics of Boost.Context (>= 1.61); the names below are those
 * of the hidden, versioned symbols `coframe_<version>_make_fcontext` etc.
 * (see "Symbol names"):
 *
 *   typedef void *fcontext_t;                   // = address of a saved block
 *   typedef struct { fcontext_t fctx; void *data; } transfer_t;  // in RAX:RDX
 *
 *   fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
 *   transfer_t coframe_jump_fcontext(fcontext_t to, void *data);
 *   transfer_t coframe_ontop_fcontext(fcontext_t to, void *data,
 *                                     transfer_t (*fn)(transfer_t));
 *   transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data);
 *   transfer_t coframe_ontop_fcontext_lean(fcontext_t to, void *data,
 *                                          transfer_t (*fn)(transfer_t));
 *
 * A suspended context is nothing but a block of saved registers on its own
 * stack; the fcontext_t is the block's address (its stack pointer). A block is
 * consumed by the jump that resumes it (one-shot): resuming the same
 * fcontext_t twice is undefined.
 *
 * The saved block (0x48 bytes, fcontext_t points at offset 0x00; the block
 * is 8 mod 16 aligned for a suspended context, because it sits right below
 * the return address pushed by the caller's `call`):
 *
 *   offset  size  contents
 *   ------  ----  ----------------------------------------------------------
 *    0x00    4    MXCSR as read by stmxcsr (only its control bits are used)
 *    0x04    2    x87 FPU control word (fnstcw)
 *    0x06    2    unused
 *                 (0x00-0x07 = -1 instead: suspended lean or fresh, "no FP
 *                 state")
 *    0x08    8    scratch for ldmxcsr (Boost: optional stack-guard copy)
 *    0x10    8    R12
 *    0x18    8    R13
 *    0x20    8    R14
 *    0x28    8    R15
 *    0x30    8    RBX   (fresh context: the entry function `fn`)
 *    0x38    8    RBP   (fresh context: 0, the end of the frame-pointer chain)
 *    0x40    8    RIP   resume address (fresh context: the start trampoline)
 *   ------  ----
 *    0x48           the suspended context's stack pointer after resumption
 *
 * Register contract (SysV AMD64 ABI 3.2.1 / 3.2.3):
 *   - callee-saved and therefore saved here: RBX, RBP, R12-R15, RSP (it *is*
 *     the fcontext_t), the control bits of MXCSR and the x87 control word;
 *   - caller-saved, not saved: RAX, RCX, RDX, RSI, RDI, R8-R11, all XMM/YMM/
 *     ZMM, all x87/MMX data registers, the x87 status word, the MXCSR status
 *     flags (bits 0-5), RFLAGS (DF is clear at every call boundary and stays
 *     clear here);
 *   - FS (thread pointer) is per thread, not per context: untouched.
 *
 * Full vs lean. The `_lean` variants never read or write MXCSR or the x87
 * control word; everything else is identical, including the block layout,
 * so contexts may be switched by any mix of the four functions. Contexts
 * that are switched lean share the thread's FP control state: a mode set in
 * one is seen by the next. A lean suspension stores -1 in the block's first
 * 8 bytes instead of the FP control state (one store; stmxcsr can never
 * produce -1, MXCSR bits 16-31 are reserved zero), and a full resumption of
 * such a block keeps the resumer's state rather than loading anything: no
 * stale and no garbage control word is ever loaded (garbage could fault in
 * ldmxcsr or unmask x87 exceptions), so mixing is memory safe and behaves
 * like a lean resumption.
 *
 * FP control state in the full variants: the control bits of MXCSR (DAZ,
 * exception masks, rounding control, FZ: bits 6-15) and the x87 control word
 * are per context. To keep the switch cheap, the target's values are loaded
 * only when they differ from the current ones (the common case, both equal,
 * costs stmxcsr + fnstcw and two compare-and-branch pairs; ldmxcsr and
 * fldcw, the expensive, partly serialising instructions, are skipped). The MXCSR exception *status* flags (bits 0-5) are
 * caller-saved per the ABI and are treated as thread state: when MXCSR is
 * reloaded the current flags are kept, so they never travel with a context.
 * A fresh context has no control state of its own: make_fcontext and
 * make_compact store the "no FP state" marker, so the first switch into it
 * (full or lean) keeps the resumer's state, and the context starts in the
 * mode of whoever first resumes it, as a called closure would. (Boost
 * records the creator's state instead; that costs an stmxcsr per context
 * made, and stmxcsr is slow on some cores, many times a store: a sizeable
 * share of making, running and dropping a coroutine. README, Design
 * measurements.)
 *
 * Fresh contexts. make_fcontext aligns `sp` down to 16 bytes and builds a
 * block in the 0x48 bytes below it (so it writes at most 0x48 + 15 bytes
 * below `sp` and never touches memory at or above `sp`); `size` is unused
 * (as in Boost). The first jump lands in the local trampoline
 * `coframe_fcontext_start` with RSP = the aligned top, which then
 * `call`s fn(transfer_t{from, data}) with RDI:RSI: at fn's first
 * instruction RSP + 8 is 16-byte aligned (exactly as after a normal call),
 * RBP = 0, and the return address points back into the trampoline, whose
 * CFI marks RIP as undefined: DWARF unwinders (libgcc, gdb, Rust's
 * backtrace) stop there, and frame-pointer walkers stop at RBP = 0.
 * fn must never return; if it does, the trampoline calls _exit(0) (Boost's
 * behaviour), which ends the process without running atexit handlers.
 * If a fresh context is entered through ontop, fn's transfer_t is the value
 * the ontop function returned.
 *
 * Speed (asm/test/bench.c times a round trip = two switches; the figures
 * are in the README, Design measurements): lean is the fastest, then full,
 * then a Boost-style switch.
 * What was measured and chosen:
 *   - resumption by `jmp *%r8`, not `ret`: a `ret` always mispredicts in the
 *     return-stack buffer (it returns to the other context's call site) and
 *     costs several times as much; the indirect-branch predictor learns
 *     ping-pong patterns;
 *   - the block is built with push/pop (same layout as Boost's mov-based
 *     block) and RSP is moved only once per side: faster than lea+mov;
 *   - stmxcsr is most of the full-vs-lean difference; ldmxcsr/fldcw are only
 *     executed when a control bit actually differs (the "modes differ" case
 *     costs several times the common one).
 *
 * CET. With `__CET__ & 1` (IBT) every entry point starts with endbr64, the
 * resume jump (whose target is a call's return address, never an endbr64)
 * carries the `notrack` prefix exactly as compilers emit for jump tables,
 * and the GNU property note announces IBT. Shadow stacks (`__CET__ & 2`) are
 * NOT supported: a switch returns to another stack's call site, which a
 * shadow stack would reject; the note therefore never announces SHSTK, so
 * the linker drops SHSTK from any binary containing this object and the
 * loader never enables shadow stacks for it.
 *
 * Symbol names. Every global symbol is SYM(name) = COFRAME_PREFIX ## name,
 * where COFRAME_PREFIX is `coframe_<crate version>_` with every character
 * of the version that is not a letter or digit replaced by `_` (e.g.
 * `coframe_0_1_0_`): build.rs passes it (-DCOFRAME_PREFIX=...) and gives
 * the Rust declarations the same prefix; asm/test/prefix.sh derives it for
 * the C tests. Each global symbol is also `.hidden`: it links within the
 * binary or shared object that contains this object and is never exported
 * from it. So two coframe versions in one program each call their own
 * switch code, and a shared object built with coframe neither exports the
 * switches nor lets another object's symbol of the same name interpose on
 * them.
 */

#ifndef COFRAME_PREFIX
#  error "COFRAME_PREFIX is not defined: build with -DCOFRAME_PREFIX=coframe_<version>_ (build.rs does)"
#endif
#define SYM_PASTE(prefix, name) prefix ## name
#define SYM_EXPAND(prefix, name) SYM_PASTE(prefix, name)
#define SYM(name) SYM_EXPAND(COFRAME_PREFIX, name)

#if defined(__CET__) && (__CET__ & 1)
#  define ENDBR endbr64
#  define NOTRACK notrack
#else
#  define ENDBR
#  define NOTRACK
#endif

/* MXCSR bits 6-15 (DAZ, exception masks, RC, FZ) are control bits. */
#define MXCSR_CONTROL 0xffc0

        .file   "x86_64_sysv_elf.S"
        .text

/*
 * Saving the caller. Shared by the four switch functions; expects RSP as at
 * function entry ([RSP] = the caller's resume address) and leaves RAX = the
 * caller's block (its fcontext_t), RSP = RAX + 0x10. `full` = 1 also stores
 * the FP control state, `full` = 0 the "no FP state" marker. The pushes
 * build exactly the block drawn above and measured faster than `lea` +
 * `mov` stores (README, Design measurements).
 */
.macro SAVE_CALLER full
        pushq   %rbp                    /* 0x38: RBP                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %rbx                    /* 0x30: RBX                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %r15                    /* 0x28: R15                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0
        pushq   %r14                    /* 0x20: R14                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        pushq   %r13                    /* 0x18: R13                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        pushq   %r12                    /* 0x10: R12                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        /* RSP stays here: 0x00-0x0f of the block lie in the red zone,
         * which signal delivery preserves, and RSP is switched next. */
        leaq    -0x10(%rsp), %rax       /* RAX = fcontext_t of the caller    */
.if \full
        stmxcsr (%rax)                  /* 0x00: MXCSR                       */
        fnstcw  0x4(%rax)               /* 0x04: x87 control word            */
.else
        movq    $-1, (%rax)             /* 0x00: "no FP state" marker        */
.endif
.endm

/*
 * Loading the target's FP control state, full variants only, still on the
 * caller's stack. RDI = target block, RAX = caller block (holding the
 * current MXCSR and x87 CW, just stored); `fp` = the offset of the FP word
 * from a block's address (0x00 in fcontext blocks, -0x08 in compact ones).
 * Clobbers RCX, RDX. The common case (nothing differs) costs four loads,
 * two compares and two not-taken branches; ldmxcsr/fldcw (expensive,
 * partly serialising) run out of line only when a control bit differs.
 */
.macro LOAD_TARGET_FP name, fp=0
        movl    \fp(%rax), %edx         /* EDX = current MXCSR               */
        movl    \fp(%rdi), %ecx         /* ECX = target's MXCSR              */
        xorl    %edx, %ecx              /* ECX = differing bits              */
        testl   $MXCSR_CONTROL, %ecx    /* a control bit differs?            */
        jnz     .L\name\()_mxcsr        /*   yes: reload MXCSR (out of line) */
.L\name\()_mxcsr_done:
        movzwl  \fp+4(%rdi), %ecx       /* ECX = target's x87 control word   */
        cmpw    \fp+4(%rax), %cx        /* differs from the current one?     */
        jne     .L\name\()_x87          /*   yes: reload it (out of line)    */
.L\name\()_x87_done:
.endm

/* The out-of-line halves of LOAD_TARGET_FP, placed after the function's
 * final jump; the CFI state there is restored to that of the macro's site.
 * `scratch` = where in the target block MXCSR is staged for ldmxcsr (the
 * fcontext block's scratch slot; in a compact block, its own FP word, which
 * this switch consumes). The "no FP state" test succeeds for a fresh
 * block (either convention) and for an fcontext block suspended lean; a
 * suspended compact block is resumed full only if it was suspended full,
 * and MXCSR is never -1. */
.macro LOAD_TARGET_FP_SLOW name, fp=0, scratch=8
.L\name\()_mxcsr:
        /* EDX = current MXCSR, ECX = current ^ target. New MXCSR = target's
         * control bits with the current status flags (thread state). */
        cmpl    $-1, \fp(%rdi)          /* suspended lean ("no FP state")?   */
        je      .L\name\()_x87_done     /*   yes: keep the current state     */
        andl    $MXCSR_CONTROL, %ecx    /* keep only differing control bits  */
        xorl    %ecx, %edx              /* EDX = current with target control */
        movl    %edx, \scratch(%rdi)    /* staged in the target block        */
        ldmxcsr \scratch(%rdi)          /* MXCSR = EDX                       */
        jmp     .L\name\()_mxcsr_done
.L\name\()_x87:
        cmpl    $-1, \fp(%rdi)          /* suspended lean ("no FP state")?   */
        je      .L\name\()_x87_done     /*   yes: keep the current state     */
        fldcw   \fp+4(%rdi)             /* x87 control word = target's       */
        jmp     .L\name\()_x87_done
.endm

/*
 * Switching to the target and restoring its general registers: RDI = target
 * block. Leaves RSP pointing at the target's RIP slot (0x40).
 */
.macro SWITCH_AND_RESTORE
        leaq    0x10(%rdi), %rsp        /* switch stacks: RSP = block + 0x10 */
        /* The target's block has the caller's layout: the same CFI (saved
         * registers at CFA-0x48+slot) now describes the target. */
        .cfi_def_cfa_offset 0x38
        popq    %r12                    /* 0x10: R12                         */
        .cfi_adjust_cfa_offset -8
        popq    %r13                    /* 0x18: R13                         */
        .cfi_adjust_cfa_offset -8
        popq    %r14                    /* 0x20: R14                         */
        .cfi_adjust_cfa_offset -8
        popq    %r15                    /* 0x28: R15                         */
        .cfi_adjust_cfa_offset -8
        popq    %rbx                    /* 0x30: RBX                         */
        .cfi_adjust_cfa_offset -8
        popq    %rbp                    /* 0x38: RBP                         */
        .cfi_adjust_cfa_offset -8
.endm

/*
 * transfer_t jump(fcontext_t to = RDI, void *data = RSI)
 * Suspends the caller into a block on its own stack, resumes `to`, and makes
 * the target's pending jump (or a fresh context's trampoline) return
 * transfer_t{RAX = caller's block, RDX = data}.
 */
.macro JUMP name, full
        .globl  \name
        .hidden \name
        .type   \name, @function
        .p2align 4
\name:
        .cfi_startproc
        ENDBR
        SAVE_CALLER \full
.if \full
        LOAD_TARGET_FP \name
        .cfi_remember_state
.endif
        SWITCH_AND_RESTORE
        popq    %r8                     /* 0x40: R8 = target's resume address */
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %r8
        movq    %rsi, %rdx              /* RAX:RDX = transfer_t{from, data}  */
        NOTRACK jmp *%r8                /* resume (not `ret`: see header)    */
.if \full
        .cfi_restore_state
        LOAD_TARGET_FP_SLOW \name
.endif
        .cfi_endproc
        .size   \name, .-\name
.endm

/*
 * transfer_t ontop(fcontext_t to = RDI, void *data = RSI,
 *                  transfer_t (*fn)(transfer_t) = RDX)
 * Like jump, but instead of returning into the target, calls
 * fn(transfer_t{RDI = caller's block, RSI = data}) on the target's stack,
 * with the target's resume address as fn's return address: fn's result
 * (RAX:RDX) becomes the return value of the target's pending jump (or the
 * transfer_t a fresh context's entry function receives).
 */
.macro ONTOP name, full
        .globl  \name
        .hidden \name
        .type   \name, @function
        .p2align 4
\name:
        .cfi_startproc
        ENDBR
        movq    %rdx, %r8               /* R8 = fn (RDX is scratch below)    */
        SAVE_CALLER \full
.if \full
        LOAD_TARGET_FP \name
        .cfi_remember_state
.endif
        SWITCH_AND_RESTORE
        /* RSP = the target's RIP slot, left in place as fn's return
         * address; RSP + 8 is 16-byte aligned, as after a call. */
        movq    %rax, %rdi              /* RDI:RSI = transfer_t{from, data}  */
        jmp     *%r8                    /* tail-call fn (a function: tracked) */
.if \full
        .cfi_restore_state
        LOAD_TARGET_FP_SLOW \name
.endif
        .cfi_endproc
        .size   \name, .-\name
.endm

        JUMP    SYM(jump_fcontext), 1
        JUMP    SYM(jump_fcontext_lean), 0
        ONTOP   SYM(ontop_fcontext), 1
        ONTOP   SYM(ontop_fcontext_lean), 0

/*
 * ---------------------------------------------------------------------------
 * The compact convention (coroutines)
 * ---------------------------------------------------------------------------
 *
 *   fcontext_t coframe_make_compact(void *sp, size_t size, void (*fn)(transfer_t));
 *   coframe_jump_compact[_lean]    (RDI = to, RSI = data) -> RAX:RDX
 *   coframe_yield_compact[_lean]   (RDI = to, RSI = data) -> RAX:RDX
 *   coframe_ontop_compact[_lean]   (RDI = to, RSI = data, RDX = fn) -> RAX:RDX
 *   coframe_start_compact[_lean]   (RDI = to, RSI = data) -> RAX:RDX
 *
 * The same make/jump/ontop semantics as above, for callers that declare
 * R12-R15 clobbered at the call site: the eight switches are NOT SysV
 * functions. They are called only from Rust inline assembly whose operand
 * list clobbers every register of the C ABI plus R12-R15, so the compiler
 * keeps only what is live across the switch, in the frame it already has.
 * What a caller cannot declare clobbered (RBX: reserved by LLVM; RBP: the
 * frame pointer) and the resume address are saved here, and the FP control
 * state in the full variants: a suspended context is three or four words.
 *
 *   offset  size  contents (compact block; fcontext_t points at 0x00,
 *   ------  ----  which is 8 mod 16 aligned for a suspended context)
 *   -0x08    4    MXCSR           ] full variants only; lean variants never
 *   -0x04    2    x87 CW          ] touch these 8 bytes (below the block,
 *   -0x02    2    unused          ] in the red zone until RSP moves away);
 *                                   a fresh block has -1 here, "no FP state"
 *    0x00    8    RBX   (fresh context: the entry function `fn`)
 *    0x08    8    RBP   (fresh context: 0)
 *    0x10    8    RIP   resume address (fresh context: the start trampoline)
 *   ------  ----
 *    0x18           the suspended context's stack pointer after resumption
 *
 * Flavours must match: a block suspended lean has no FP word and must be
 * resumed lean; a block suspended full, or made by make_compact (which
 * writes the "no FP state" marker), may be resumed by either. coframe's
 * Coroutine fixes the flavour at creation and switches both ways with it, so every block is
 * resumed by the flavour that suspended it. Blocks of the two conventions
 * are not interchangeable either: a compact block is resumed only by a
 * compact function. A fresh compact context lands in its own trampoline,
 * coframe_compact_start, with the registers of the fcontext one (RSP =
 * aligned top, RBX = fn, RBP = 0, RAX:RDX = transfer_t), whose CFI
 * describes the resumer as its caller (see "Backtraces" below).
 *
 * Register contract of the eight switches: RBX, RBP, RSP and (full) the FP
 * control state are preserved; RAX:RDX = transfer_t{from, data}; every
 * other general register and all vector and x87 registers are clobbered.
 *
 * Branches. A resumer enters `jump` (or `ontop`) with a `call`, which
 * pushes its return address on the return-stack predictor; `jump` resumes
 * the coroutine with an indirect `jmp` (predicted by the branch target
 * buffer, as ping-pong patterns are). The coroutine enters `yield` with a
 * `jmp` after pushing its own resume address by hand (no predictor entry),
 * and `yield` resumes the resumer with `ret`: the predictor's top entry is
 * exactly that return address. Calls and returns stay paired, so code
 * after the switch does not inherit mispredicted returns. Any function may
 * resume any (flavour-matched) block: `ret` and `pop; jmp` consume the same
 * RIP slot.
 *
 * First activation. `start` is `jump` for a fresh block only (made by
 * make_compact, never resumed): it reads the entry function with a `mov`
 * and enters the trampoline directly, instead of popping RBX, RBP and the
 * resume address like every later resumption. The pops of `jump` then
 * only ever load words that a `yield` (or `jump`) pushed. Measured: one
 * fresh block resumed by `jump`'s pops, whose words make_compact stored
 * with plain moves, left every later lean round trip through `jump` and
 * `yield`, of any coroutine, markedly slower until the thread slept (a
 * load-forwarding predictor is the likely culprit); with `start` the round
 * trip stays at its fast speed (README, Design measurements).
 * A full `start` saves the resumer's FP control state and loads nothing
 * (a fresh context has none of its own: see "FP control state" at the top).
 * Of the fresh block `start` reads only the 0x00 word, fn: coframe's
 * coroutines write just that word, in Rust (raw::make_fresh_compact, same
 * geometry), and enter a fresh context with `start` alone; make_compact
 * builds the whole block, which any compact switch may enter.
 *
 * Why: a coroutine round trip through the fcontext functions pays twelve
 * stores and twelve loads for R12-R15, RBX and RBP whether or not anything
 * lives in them; the compact round trip saves two or three words per side
 * and lets the compiler spill what is live (in a loop, often nothing).
 * Measured with benches/context.rs (a lean Coroutine round trip): the
 * compact round trip is markedly faster than the fcontext one and close to
 * corosensei's, whose switch is inlined into the caller (README, Design
 * measurements).
 */
/*
 * Suspends the caller into a compact block on its own stack (shared by
 * every compact switch): RBX and RBP pushed, RAX = the block, and in the
 * full variants the FP control state just below it. -0x08 lies in the red
 * zone, which signal delivery preserves; RSP leaves this stack right after.
 */
.macro SAVE_COMPACT full
        pushq   %rbp                    /* 0x08: RBP                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %rbx                    /* 0x00: RBX                         */
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        movq    %rsp, %rax              /* RAX = the caller's compact block  */
.if \full
        stmxcsr -0x8(%rax)              /* -0x08: MXCSR                      */
        fnstcw  -0x4(%rax)              /* -0x04: x87 control word           */
.endif
.endm

.macro SWITCH_COMPACT name, full, mode
        /* mode: 0 = jump (resume by jmp), 1 = yield (resume by ret),
         *       2 = ontop (RDX = fn, tail-called on the target's stack) */
        .globl  \name
        .hidden \name
        .type   \name, @function
        .p2align 4
\name:
        .cfi_startproc
        ENDBR
.if \mode == 2
        movq    %rdx, %r8               /* R8 = fn (RDX is scratch below)    */
.endif
        SAVE_COMPACT \full
.if \full
        LOAD_TARGET_FP \name, -0x8
        .cfi_remember_state
.endif
        movq    %rdi, %rsp              /* switch stacks: RSP = target block */
        .cfi_def_cfa_offset 0x10
        popq    %rbx                    /* 0x00: RBX                         */
        .cfi_adjust_cfa_offset -8
        popq    %rbp                    /* 0x08: RBP                         */
        .cfi_adjust_cfa_offset -8
.if \mode == 0
        movq    %rsi, %rdx              /* RAX:RDX = transfer_t{from, data}  */
        popq    %r8                     /* 0x10: R8 = target's resume address */
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %r8
        NOTRACK jmp *%r8                /* resume (see "Branches")           */
.elseif \mode == 1
        movq    %rsi, %rdx              /* RAX:RDX = transfer_t{from, data}  */
        ret                             /* resume at 0x10 (see "Branches")   */
.else
        /* RSP = the target's RIP slot, left in place as fn's return
         * address; RSP + 8 is 16-byte aligned, as after a call. */
        movq    %rax, %rdi              /* RDI:RSI = transfer_t{from, data}  */
        jmp     *%r8                    /* tail-call fn (a function: tracked) */
.endif
.if \full
        .cfi_restore_state
        LOAD_TARGET_FP_SLOW \name, -0x8, -0x8
.endif
        .cfi_endproc
        .size   \name, .-\name
.endm

        SWITCH_COMPACT  SYM(jump_compact), 1, 0
        SWITCH_COMPACT  SYM(jump_compact_lean), 0, 0
        SWITCH_COMPACT  SYM(yield_compact), 1, 1
        SWITCH_COMPACT  SYM(yield_compact_lean), 0, 1
        SWITCH_COMPACT  SYM(ontop_compact), 1, 2
        SWITCH_COMPACT  SYM(ontop_compact_lean), 0, 2

/*
 * transfer_t start(fcontext_t to = RDI, void *data = RSI), compact: the
 * first switch into a fresh compact block (see "First activation"). Saves
 * the caller's compact block as `jump` does, then sets up the trampoline's
 * registers from the fresh block without popping it: RBX = fn (its 0x00
 * word), RBP = 0, RSP = the aligned top (block + 0x18), RAX:RDX =
 * transfer_t{caller's block, data}.
 */
.macro START_COMPACT name, full
        .globl  \name
        .hidden \name
        .type   \name, @function
        .p2align 4
\name:
        .cfi_startproc
        ENDBR
        SAVE_COMPACT \full
        movq    0x0(%rdi), %rbx         /* RBX = fn, the fresh block's 0x00  */
        xorl    %ebp, %ebp              /* RBP = 0: the frame chain ends     */
        leaq    0x18(%rdi), %rsp        /* switch stacks: RSP = aligned top  */
        .cfi_undefined %rip             /* a fresh stack: unwinding ends     */
        movq    %rsi, %rdx              /* RAX:RDX = transfer_t{from, data}  */
        jmp     .Lcoframe_compact_entry /* the trampoline (direct: no entry  */
                                        /* on the return-stack predictor)    */
        .cfi_endproc
        .size   \name, .-\name
.endm

        START_COMPACT SYM(start_compact), 1
        START_COMPACT SYM(start_compact_lean), 0

/*
 * fcontext_t coframe_make_compact(void *sp = RDI, size_t size = RSI,
 *                                 void (*fn)(transfer_t) = RDX)
 * A SysV function. Builds a fresh compact block below the 16-byte aligned
 * `sp` (writes at most 0x20 + 15 bytes below it), with the "no FP state"
 * marker as its FP word (see "Fresh contexts" in the header); `size` is
 * unused.
 */
        .globl  SYM(make_compact)
        .hidden SYM(make_compact)
        .type   SYM(make_compact), @function
        .p2align 4
SYM(make_compact):
        .cfi_startproc
        ENDBR
        movq    %rdi, %rax
        andq    $-16, %rax              /* RAX = top of stack, 16-aligned    */
        leaq    -0x18(%rax), %rax       /* RAX = block (fcontext_t)          */
        movq    $-1, -0x8(%rax)         /* -0x08: "no FP state" marker       */
        movq    %rdx, 0x0(%rax)         /* 0x00: RBX = fn, for the trampoline*/
        movq    $0, 0x8(%rax)           /* 0x08: RBP = 0, ends the FP chain  */
        leaq    .Lcoframe_compact_entry(%rip), %rcx
        movq    %rcx, 0x10(%rax)        /* 0x10: RIP = the trampoline        */
        ret
        .cfi_endproc
        .size   SYM(make_compact), .-SYM(make_compact)

/*
 * fcontext_t coframe_make_fcontext(void *sp = RDI, size_t size = RSI,
 *                                  void (*fn)(transfer_t) = RDX)
 * Builds a fresh context's block below the 16-byte aligned `sp`; see the
 * header for what the first switch into it does. `size` is unused.
 */
        .globl  SYM(make_fcontext)
        .hidden SYM(make_fcontext)
        .type   SYM(make_fcontext), @function
        .p2align 4
SYM(make_fcontext):
        .cfi_startproc
        ENDBR
        movq    %rdi, %rax
        andq    $-16, %rax              /* RAX = top of stack, 16-aligned    */
        leaq    -0x48(%rax), %rax       /* RAX = block (fcontext_t)          */
        movq    $-1, (%rax)             /* 0x00: "no FP state" marker        */
        movq    %rdx, 0x30(%rax)        /* 0x30: RBX = fn, for the trampoline*/
        movq    $0, 0x38(%rax)          /* 0x38: RBP = 0, ends the FP chain  */
        leaq    .Lcoframe_start_entry(%rip), %rcx
        movq    %rcx, 0x40(%rax)        /* 0x40: RIP = the trampoline        */
        ret                             /* R12-R15 slots: don't care         */
        .cfi_endproc
        .size   SYM(make_fcontext), .-SYM(make_fcontext)

/*
 * The base frame of every fresh context (file-local symbols, so backtraces
 * name them): coframe_fcontext_start for fcontext blocks,
 * coframe_compact_start for compact ones. Entered by a jump (RAX:RDX =
 * transfer_t{from, data}) or by the `ret` of an ontop function (RAX:RDX =
 * its result), with RSP = the aligned top of the stack, RBX = fn, RBP = 0.
 *
 * The entry point is one instruction into the function: when an ontop
 * function runs on a fresh context its return address is the entry point,
 * and unwinders look up the FDE of (return address - 1), which must still
 * be this one (with RIP undefined), not whatever precedes it.
 *
 * `call` = 0 (compact): fn is entered by `jmp` after pushing its return
 * address by hand, not by `call`. fn never returns (a coroutine's last
 * switch is a yield whose `ret` must find its resumer's `call` on top of
 * the return-stack predictor); a `call` here would leave an entry that no
 * `ret` ever pops and make that last `ret`, and the resumer's returns
 * after it, mispredict. The pushed address lies in this FDE.
 *
 * Backtraces. The fcontext trampoline is an outermost frame (RIP
 * undefined): a fiber has no fixed caller. A compact context is a
 * coroutine's, which always runs on behalf of the resumer suspended in its
 * last switch, so the compact trampoline (`link` = 1) describes that
 * resumer as its caller and unwinders walk on into the resumer's stack, as
 * corosensei's trampoline does. The link is the word at the trampoline's
 * RSP (the aligned top; its owner keeps it, make_compact never writes at
 * or above sp): the address of the resumer's compact block, or of a block
 * of zeros when there is no resumer (a fresh context):
 *
 *   CFA = link + 0x18 (the resumer's RSP once its switch returns),
 *   RIP = [CFA - 8], RBP = [CFA - 16], RBX = [CFA - 24] (the block's resume
 *   address, RBP and RBX); a zero block gives RIP = 0, which ends the walk.
 *
 * As a DWARF expression (DW_CFA_def_cfa_expression, 5 bytes):
 *   DW_OP_breg7 0, DW_OP_deref, DW_OP_plus_uconst 0x18
 * (no branch for a null link: valgrind's CFI reader takes no DW_OP_bra and
 * aborts on DW_OP_dup). coframe's Coroutine keeps the link in its record's
 * first word, the parent field, written before any code runs on the stack
 * (its zero block while the coroutine is fresh).
 */
.macro START name, entry, call, link
        .type   \name, @function
        .p2align 4
\name:
        .cfi_startproc
.if \link
        .cfi_escape 0x0f, 0x05, 0x77, 0x00, 0x06, 0x23, 0x18
        .cfi_offset %rip, -8            /* the resumer's frame: see above    */
        .cfi_offset %rbp, -16
        .cfi_offset %rbx, -24
.else
        .cfi_undefined %rip             /* outermost frame: unwinders stop   */
.endif
        nop                             /* keeps entry - 1 inside this FDE   */
\entry:
        ENDBR                           /* reached indirectly                */
        xorl    %ebp, %ebp              /* RBP = 0: frame-pointer chain ends */
        movq    %rax, %rdi              /* RDI:RSI = transfer_t argument     */
        movq    %rdx, %rsi
.if \call
        call    *%rbx                   /* fn(t): RSP+8 16-aligned at entry  */
.else
        leaq    .L\name\()_ret(%rip), %rcx
        pushq   %rcx                    /* fn's return address: RSP+8 aligned */
        jmp     *%rbx                   /* fn(t), no predictor entry         */
.L\name\()_ret:
.endif
        /* fn returned, which the contract forbids: end the process as
         * Boost does. RSP is 16-aligned again here. */
        xorl    %edi, %edi
        call    _exit@PLT
        hlt
        .cfi_endproc
        .size   \name, .-\name
.endm

        START   coframe_fcontext_start, .Lcoframe_start_entry, 1, 0
        START   coframe_compact_start, .Lcoframe_compact_entry, 0, 1

#if defined(__CET__) && (__CET__ & 1)
/* GNU property note, as gcc emits it for -fcf-protection=branch:
 * GNU_PROPERTY_X86_FEATURE_1_AND = IBT only (never SHSTK, see header). */
        .section .note.gnu.property, "a"
        .p2align 3
        .long   4                       /* n_namesz                          */
        .long   16                      /* n_descsz                          */
        .long   5                       /* NT_GNU_PROPERTY_TYPE_0            */
        .asciz  "GNU"                   /* n_name                            */
        .long   0xc0000002              /* GNU_PROPERTY_X86_FEATURE_1_AND    */
        .long   4                       /* pr_datasz                         */
        .long   1                       /* GNU_PROPERTY_X86_FEATURE_1_IBT    */
        .p2align 3                      /* pad the descriptor to 8 bytes     */
#endif

        .section .note.GNU-stack, "", %progbits
