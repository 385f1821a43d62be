/*
 * signals.S — erase signal frames the kernel wrote on the thread's
 * alternate signal stack while the scope ran.
 *
 * CPython 3.10+ installs its handlers with SA_ONSTACK and faulthandler gives
 * a thread an alternate stack, so a signal arriving inside a scope can save
 * every register (vector state included) there, outside the thread's stack
 * that scrub_stack erases.
 *
 * Where a frame lands (x86-64 get_sigframe): the xsave area is placed at the
 * top of the alternate stack, the rt_sigframe (return address, ucontext with
 * every general register) right below it; nested frames go lower still, and
 * only while the first is live.  So if any frame was written, the top
 * CHECK_BYTES hold non-zero data: when they are all zero (the common case,
 * no signal), nothing is done; otherwise the whole alternate stack is zeroed.
 *
 * Platform assumptions: the registered alternate stack's memory stays valid
 * while it is registered (the kernel writes to it on any signal, so a program
 * that frees it first is already broken); SS_ONSTACK means a handler is
 * running on it right now, and then it is left alone.
 */
.include "common.inc"

.equ SYS_sigaltstack, 131
.equ SS_ONSTACK, 1
.equ SS_DISABLE, 2
.equ CHECK_BYTES, 16384         /* > rt_sigframe + the largest xsave area (AMX: ~11 KiB) */

    .text
/*
 * scrub_altstack                                         [internal, leaf]
 *   in:  rdi = 24 bytes of scratch memory (a stack_t), above the erased region
 *   out: the alternate stack is all zero if a frame was written on it
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11, flags.  r8-r10 held OR-ed
 *        contents of the alternate stack: the trampolines clear them before
 *        returning.  Uses no stack beyond its return address.
 */
LOCALFUNC scrub_altstack
    mov %rdi, %rsi                     /* old: where the kernel reports it     */
    xor %edi, %edi                     /* new: NULL, only asking               */
    mov $SYS_sigaltstack, %eax
    syscall
    test %rax, %rax
    jnz 9f
    testl $(SS_ONSTACK | SS_DISABLE), 8(%rsi)
    jnz 9f                             /* none, or a handler is running on it  */
    mov (%rsi), %rdx                   /* rdx = ss_sp                          */
    mov 16(%rsi), %rcx                 /* rcx = ss_size                        */
    and $-8, %rcx
    jz 9f
    /* Check the top min(size, CHECK_BYTES) bytes: OR them together. */
    mov %rcx, %r11
    cmp $CHECK_BYTES, %r11
    jbe 1f
    mov $CHECK_BYTES, %r11
1:  lea (%rdx, %rcx), %rdi             /* rdi = top                            */
    sub %r11, %rdi                     /* rdi = start of the checked part      */
    xor %r8d, %r8d
    xor %r9d, %r9d
    shr $3, %r11                       /* qwords                               */
2:  mov (%rdi), %r10
    or %r10, %r8
    add $8, %rdi
    dec %r11
    jnz 2b
    test %r8, %r8
    jz 8f                              /* nothing was written: done            */
    mov %rdx, %rdi                     /* zero the whole alternate stack       */
    shr $3, %rcx
    xor %eax, %eax
    rep stosq
8:  xor %r8d, %r8d                     /* no contents left in registers        */
    xor %r10d, %r10d
9:  ret
ENDFUNC scrub_altstack

GNU_PROPERTY_NOTES
