/* Provisional x86_64 SysV switch (to be replaced by the documented version). */
.text
.globl coframe_jump_fcontext
.type coframe_jump_fcontext,@function
.align 16
coframe_jump_fcontext:
    leaq  -0x38(%rsp), %rsp
    stmxcsr  (%rsp)
    fnstcw   0x4(%rsp)
    movq  %r12, 0x8(%rsp)
    movq  %r13, 0x10(%rsp)
    movq  %r14, 0x18(%rsp)
    movq  %r15, 0x20(%rsp)
    movq  %rbx, 0x28(%rsp)
    movq  %rbp, 0x30(%rsp)
    movq  %rsp, %rax
    movq  %rdi, %rsp
    movq  0x38(%rsp), %r8
    ldmxcsr  (%rsp)
    fldcw    0x4(%rsp)
    movq  0x8(%rsp), %r12
    movq  0x10(%rsp), %r13
    movq  0x18(%rsp), %r14
    movq  0x20(%rsp), %r15
    movq  0x28(%rsp), %rbx
    movq  0x30(%rsp), %rbp
    leaq  0x40(%rsp), %rsp
    movq  %rsi, %rdx
    movq  %rax, %rdi
    jmp  *%r8
.size coframe_jump_fcontext,.-coframe_jump_fcontext

.globl coframe_ontop_fcontext
.type coframe_ontop_fcontext,@function
.align 16
coframe_ontop_fcontext:
    movq  %rdx, %r8
    leaq  -0x38(%rsp), %rsp
    stmxcsr  (%rsp)
    fnstcw   0x4(%rsp)
    movq  %r12, 0x8(%rsp)
    movq  %r13, 0x10(%rsp)
    movq  %r14, 0x18(%rsp)
    movq  %r15, 0x20(%rsp)
    movq  %rbx, 0x28(%rsp)
    movq  %rbp, 0x30(%rsp)
    movq  %rsp, %rax
    movq  %rdi, %rsp
    ldmxcsr  (%rsp)
    fldcw    0x4(%rsp)
    movq  0x8(%rsp), %r12
    movq  0x10(%rsp), %r13
    movq  0x18(%rsp), %r14
    movq  0x20(%rsp), %r15
    movq  0x28(%rsp), %rbx
    movq  0x30(%rsp), %rbp
    leaq  0x38(%rsp), %rsp
    movq  %rsi, %rdx
    movq  %rax, %rdi
    jmp  *%r8
.size coframe_ontop_fcontext,.-coframe_ontop_fcontext

.globl coframe_make_fcontext
.type coframe_make_fcontext,@function
.align 16
coframe_make_fcontext:
    movq  %rdi, %rax
    andq  $-16, %rax
    leaq  -0x40(%rax), %rax
    movq  %rdx, 0x28(%rax)
    stmxcsr  (%rax)
    fnstcw   0x4(%rax)
    leaq  1f(%rip), %rcx
    movq  %rcx, 0x38(%rax)
    leaq  2f(%rip), %rcx
    movq  %rcx, 0x30(%rax)
    ret
1:
    push %rbp
    jmp *%rbx
2:
    xorq  %rdi, %rdi
    call  _exit@PLT
    hlt
.size coframe_make_fcontext,.-coframe_make_fcontext

.globl coframe_jump_fcontext_lean
.set coframe_jump_fcontext_lean, coframe_jump_fcontext
.globl coframe_ontop_fcontext_lean
.set coframe_ontop_fcontext_lean, coframe_ontop_fcontext
.section .note.GNU-stack,"",%progbits
