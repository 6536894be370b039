/*
 * BTI under enforcement: a freestanding aarch64 program (no C library, whose
 * objects are not BTI-marked, so that the executable keeps the BTI property
 * and qemu-aarch64 -cpu max maps its code as guarded pages). It drives every
 * switch path through the indirect branches the switch uses: a fresh
 * context's entry function reached by `blr x19`, ontop functions reached by
 * `br x16`, resumptions by `ret`, for the fcontext and the compact functions
 * (the latter through a minimal C-ABI wrapper). Exit status 0 = all good.
 *
 * Built with -DNEGATIVE_CONTROL it instead branches with `br` to an
 * instruction that is not a landing pad; under enforcement that must die
 * with SIGILL, which proves the positive run was really enforced.
 */
#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(make_fcontext));
transfer_t coframe_jump_fcontext(fcontext_t to, void *data)
    __asm__(SWITCH_SYMBOL(jump_fcontext));
transfer_t coframe_ontop_fcontext(fcontext_t to, void *data, transfer_t (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(ontop_fcontext));
transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data)
    __asm__(SWITCH_SYMBOL(jump_fcontext_lean));
transfer_t coframe_ontop_fcontext_lean(fcontext_t to, void *data, transfer_t (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(ontop_fcontext_lean));
fcontext_t coframe_make_compact(void *sp, size_t size, void (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(make_compact));
transfer_t wrap_jump_compact(fcontext_t to, void *data);
transfer_t wrap_ontop_compact(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));
transfer_t wrap_jump_compact_lean(fcontext_t to, void *data);
transfer_t wrap_ontop_compact_lean(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));
transfer_t wrap_start_compact(fcontext_t to, void *data);
transfer_t wrap_start_compact_lean(fcontext_t to, void *data);

/* The compact switches are not AAPCS64 functions (they clobber X20-X28 and
 * all of V0-V31): C-ABI wrappers keep X20-X28, D8-D15 and the frame record
 * around a direct `bl` (harness.c has the commented version). */
#define WRAP(name, target)                                                    \
    ".globl " name "\n.type " name ", %function\n" name ":\n"                \
    " hint #34\n"                 /* bti c */                                \
    " stp x29, x30, [sp, #-160]!\n mov x29, sp\n"                            \
    " stp x20, x21, [sp, #16]\n stp x22, x23, [sp, #32]\n"                    \
    " stp x24, x25, [sp, #48]\n stp x26, x27, [sp, #64]\n"                    \
    " str x28, [sp, #80]\n"                                                   \
    " stp d8, d9, [sp, #96]\n stp d10, d11, [sp, #112]\n"                     \
    " stp d12, d13, [sp, #128]\n stp d14, d15, [sp, #144]\n"                  \
    " bl " target "\n"                                                        \
    " ldp x20, x21, [sp, #16]\n ldp x22, x23, [sp, #32]\n"                    \
    " ldp x24, x25, [sp, #48]\n ldp x26, x27, [sp, #64]\n"                    \
    " ldr x28, [sp, #80]\n"                                                   \
    " ldp d8, d9, [sp, #96]\n ldp d10, d11, [sp, #112]\n"                     \
    " ldp d12, d13, [sp, #128]\n ldp d14, d15, [sp, #144]\n"                  \
    " ldp x29, x30, [sp], #160\n ret\n.size " name ", .-" name "\n"
__asm__(".text\n" WRAP("wrap_jump_compact", SWITCH_SYMBOL(jump_compact))
        WRAP("wrap_ontop_compact", SWITCH_SYMBOL(ontop_compact))
        WRAP("wrap_jump_compact_lean", SWITCH_SYMBOL(jump_compact_lean))
        WRAP("wrap_ontop_compact_lean", SWITCH_SYMBOL(ontop_compact_lean))
        WRAP("wrap_start_compact", SWITCH_SYMBOL(start_compact))
        WRAP("wrap_start_compact_lean", SWITCH_SYMBOL(start_compact_lean)));

/* Called from the trampoline; the rest of the file needs no libc. */
void _exit(int code) {
    register long x0 __asm__("x0") = code;
    register long x8 __asm__("x8") = 93; /* exit */
    __asm__ volatile("svc #0" : : "r"(x0), "r"(x8) : "memory");
    __builtin_unreachable();
}

#if !defined(NEGATIVE_CONTROL)
static _Alignas(16) unsigned char stack[16384];

static void entry(transfer_t t) {
    for (;;)
        t = coframe_jump_fcontext(t.fctx, (void *)((uintptr_t)t.data + 1));
}

static transfer_t (*volatile compact_jump)(fcontext_t, void *);
static void entry_compact(transfer_t t) {
    for (;;)
        t = compact_jump(t.fctx, (void *)((uintptr_t)t.data + 1));
}

static transfer_t times_two(transfer_t t) {
    return (transfer_t){t.fctx, (void *)((uintptr_t)t.data * 2)};
}

/* Function pointers through volatile storage, so the calls stay indirect. */
static void (*volatile entry_ptr)(transfer_t) = entry;
static void (*volatile entry_compact_ptr)(transfer_t) = entry_compact;
static transfer_t (*volatile ontop_ptr)(transfer_t) = times_two;
#endif

void _start(void) {
    int code = 0;
#if defined(NEGATIVE_CONTROL)
    __asm__ volatile("adr x16, 1f\n br x16\n nop\n1: nop\n" : : : "x16");
    code = 0; /* reached only if BTI is not enforced */
#else
    fcontext_t c = coframe_make_fcontext(stack + sizeof stack, sizeof stack, entry_ptr);
    transfer_t t = coframe_jump_fcontext(c, (void *)1);            /* blr x19 */
    code |= t.data != (void *)2;
    t = coframe_ontop_fcontext(t.fctx, (void *)5, ontop_ptr);      /* br x16 */
    code |= (t.data != (void *)11) << 1;                           /* 5*2+1 */
    t = coframe_jump_fcontext_lean(t.fctx, (void *)20);
    code |= (t.data != (void *)21) << 2;
    t = coframe_ontop_fcontext_lean(t.fctx, (void *)3, ontop_ptr);
    code |= (t.data != (void *)7) << 3;
    /* ontop onto a fresh context: br x16 into fn, which returns into the
     * trampoline, which then enters `entry` with blr x19 */
    c = coframe_make_fcontext(stack + sizeof stack, sizeof stack, entry_ptr);
    t = coframe_ontop_fcontext(c, (void *)4, ontop_ptr);
    code |= (t.data != (void *)9) << 4;
    /* The same paths through the compact functions, full then lean (the
     * flavours must not be mixed on one context). */
    compact_jump = wrap_jump_compact;
    c = coframe_make_compact(stack + sizeof stack, sizeof stack, entry_compact_ptr);
    t = wrap_jump_compact(c, (void *)1);                           /* blr x19 */
    code |= (t.data != (void *)2) << 5;
    t = wrap_ontop_compact(t.fctx, (void *)5, ontop_ptr);          /* br x16 */
    code |= (t.data != (void *)11) << 6;
    c = coframe_make_compact(stack + sizeof stack, sizeof stack, entry_compact_ptr);
    t = wrap_ontop_compact(c, (void *)4, ontop_ptr);               /* fresh */
    code |= (t.data != (void *)9) << 7;
    compact_jump = wrap_jump_compact_lean;
    c = coframe_make_compact(stack + sizeof stack, sizeof stack, entry_compact_ptr);
    t = wrap_jump_compact_lean(c, (void *)20);
    code |= (t.data != (void *)21) << 8;
    t = wrap_ontop_compact_lean(t.fctx, (void *)3, ontop_ptr);
    code |= (t.data != (void *)7) << 9;
    /* A fresh compact context entered by `start` (the trampoline reached by
     * a direct branch, then br x16 into entry), full and lean. */
    compact_jump = wrap_jump_compact;
    c = coframe_make_compact(stack + sizeof stack, sizeof stack, entry_compact_ptr);
    t = wrap_start_compact(c, (void *)30);
    code |= (t.data != (void *)31) << 10;
    compact_jump = wrap_jump_compact_lean;
    c = coframe_make_compact(stack + sizeof stack, sizeof stack, entry_compact_ptr);
    t = wrap_start_compact_lean(c, (void *)40);
    code |= (t.data != (void *)41) << 11;
#endif
    _exit(code > 0xff ? 0xff : code); /* the exit status keeps 8 bits */
}
