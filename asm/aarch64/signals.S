/*
 * signals.S — erase signal frames the kernel wrote on the thread's
 * alternate signal stack while the scope ran.
 *
 * CPython 3.10+ installs its handlers with SA_ONSTACK and faulthandler gives
 * a thread an alternate stack, so a signal arriving inside a scope can save
 * every register (FP/SIMD, SVE and ZA state included) there, outside the
 * thread's stack that scrub_stack erases.
 *
 * Where a frame lands (arm64 get_sigframe): a frame record (x29, x30 of the
 * interrupted code) in the top 16 bytes of the alternate stack, the
 * rt_sigframe (siginfo, ucontext with every general register and the
 * fpsimd/sve/za records, then any extra_context) right below it; nested
 * frames go lower still, and only while the first is live.  So if any frame
 * was written, the top CHECK_BYTES hold non-zero data: when they are all zero
 * (the common case, no signal), nothing is done; otherwise the whole
 * alternate stack is zeroed.
 *
 * Platform assumptions: the registered alternate stack's memory stays valid
 * while it is registered (the kernel writes to it on any signal, so a program
 * that frees it first is already broken); SS_ONSTACK means a handler is
 * running on it right now, and then it is left alone.
 */
.include "common.inc"
.include "macros.inc"

.equ SYS_sigaltstack, 132
.equ SS_ONSTACK, 1
.equ SS_DISABLE, 2
.equ CHECK_BYTES, 16384         /* a frame record sits in the top 16 bytes of any frame */

    .text
/*
 * scrub_altstack                                         [internal, leaf]
 *   in:  x0 = 24 bytes of scratch memory (a stack_t: ss_sp at 0, ss_flags at
 *        8, ss_size at 16): the slot's vector (SLOT_VECTOR)
 *   out: the alternate stack is all zero if a frame was written on it
 *   clobbers: x0-x4, x8-x11, flags.  x9/x10 held OR-ed contents of the
 *        alternate stack only while checking, and are zero on return.  Uses
 *        no stack.
 */
LOCALFUNC scrub_altstack
    mov x1, x0                          /* old: where the kernel reports it     */
    mov x0, #0                          /* new: NULL, only asking               */
    mov x8, #SYS_sigaltstack
    svc #0
    cbnz x0, 9f
    ldr w2, [x1, #8]
    tst w2, #(SS_ONSTACK | SS_DISABLE)
    b.ne 9f                             /* none, or a handler is running on it  */
    ldr x2, [x1]                        /* x2 = ss_sp                           */
    ldr x3, [x1, #16]                   /* x3 = ss_size                         */
    and x3, x3, #~7
    cbz x3, 9f
    /* Check the top min(size, CHECK_BYTES) bytes: OR them together. */
    mov x4, #CHECK_BYTES
    cmp x3, x4
    csel x4, x3, x4, ls                 /* x4 = bytes checked                   */
    add x11, x2, x3                     /* x11 = top                            */
    sub x11, x11, x4                    /* x11 = start of the checked part      */
    mov x9, #0
2:  ldr x10, [x11], #8
    orr x9, x9, x10
    subs x4, x4, #8
    b.ne 2b
    cbz x9, 8f                          /* nothing was written: done            */
    mov x11, x2                         /* zero the whole alternate stack       */
3:  str xzr, [x11], #8
    subs x3, x3, #8
    b.ne 3b
8:  mov x9, #0                          /* no contents left in registers        */
    mov x10, #0
9:  ret
ENDFUNC scrub_altstack

GNU_PROPERTY_NOTES
