/*
 * BTI under enforcement: a freestanding aarch64 program (no C library, whose
 * objects are not BTI-marked, so that the executable keeps the BTI property
 * and qemu-aarch64 -cpu max maps its code as guarded pages). It drives every
 * switch path through the indirect branches the switch uses: a fresh
 * context's entry function reached by `blr x19`, ontop functions reached by
 * `br x16`, resumptions by `ret`. Exit status 0 = all good.
 *
 * Built with -DNEGATIVE_CONTROL it instead branches with `br` to an
 * instruction that is not a landing pad; under enforcement that must die
 * with SIGILL, which proves the positive run was really enforced.
 */
#include <stddef.h>
#include <stdint.h>

typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
transfer_t coframe_jump_fcontext(fcontext_t to, void *data);
transfer_t coframe_ontop_fcontext(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));
transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data);
transfer_t coframe_ontop_fcontext_lean(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));

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

static transfer_t times_two(transfer_t t) {
    return (transfer_t){t.fctx, (void *)((uintptr_t)t.data * 2)};
}

/* Function pointers through volatile storage, so the calls stay indirect. */
static void (*volatile entry_ptr)(transfer_t) = entry;
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
#endif
    _exit(code);
}
