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
 *
 * Knowing that no signal arrived, without a system call (rseq).  glibc 2.35+
 * registers a struct rseq for every thread (at __rseq_offset from the thread
 * pointer).  Its rseq_cs field is documented kernel ABI: "set to NULL by the
 * kernel ... when the kernel detects that it is preempting or delivering a
 * signal outside of the range targeted by the rseq_cs" (linux/rseq.h).  So
 * the outermost scope stores the address of an empty critical section
 * (rseq_descriptor: post_commit_offset 0, so no instruction is ever inside it
 * and nothing is ever restarted) there, and at its end a scope that still
 * finds that address knows that no signal was delivered to this thread since:
 * no frame can be on the alternate stack, and the sigaltstack query is
 * skipped.  Anything else there (NULL, or another rseq user's descriptor)
 * means "maybe": the query runs as before.  The descriptor must pass the
 * kernel's checks or the kernel kills the thread with SIGSEGV: version 0,
 * abort_ip outside the (empty) range and preceded by the registration's
 * signature, glibc's RSEQ_SIG.  Used only when glibc registered rseq and the
 * kernel wrote a CPU number into the thread's area (rseq_area).
 */
.include "common.inc"

.equ SYS_sigaltstack, 131
.equ SS_ONSTACK, 1
.equ SS_DISABLE, 2
.equ CHECK_BYTES, 16384         /* > rt_sigframe + the largest xsave area (AMX: ~11 KiB) */
.equ RSEQ_SIG, 0x53053053       /* glibc's x86 rseq signature (sys/rseq.h)   */
.equ RSEQ_CPU_ID, 4             /* struct rseq: u32 cpu_id (signed: <0 = not registered) */
.equ RSEQ_CS, 8                 /* struct rseq: u64 rseq_cs                   */

    .section .rodata
    .p2align 2
    .long RSEQ_SIG                     /* the kernel reads this before abort_ip */
rseq_abort:                            /* never reached: the range is empty    */
    .long 0

    .data
    .p2align 5
    .globl rseq_descriptor
    .hidden rseq_descriptor
/* struct rseq_cs, filled by ss_rseq_setup (absolute addresses without a
 * dynamic relocation): version, flags, start_ip, post_commit_offset, abort_ip */
rseq_descriptor:
    .long 0, 0
    .quad 0, 0, 0
    .size rseq_descriptor, . - rseq_descriptor
    .p2align 3
rseq_offset:                           /* glibc's __rseq_offset                */
    .quad 0
rseq_enabled:
    .quad 0

    .text
/*
 * void ss_rseq_setup(int64_t rseq_offset)                    [ctypes, once]
 *   in:  rdi = glibc's __rseq_offset; called only when glibc's __rseq_size
 *        says it registers rseq areas (before any thread is registered)
 *   out: the descriptor is filled and rseq_area starts finding areas.
 */
FUNC ss_rseq_setup
    mov %rdi, rseq_offset(%rip)
    lea rseq_abort(%rip), %rax
    mov %rax, (rseq_descriptor + 8)(%rip)   /* start_ip (empty range)          */
    mov %rax, (rseq_descriptor + 24)(%rip)  /* abort_ip, right after RSEQ_SIG  */
    movq $1, rseq_enabled(%rip)
    ret
ENDFUNC ss_rseq_setup

/*
 * rseq_area                                              [internal, leaf]
 *   Called by ss_register_thread on the thread itself.
 *   out: rax = the calling thread's struct rseq if rseq is enabled and the
 *        kernel has registered it (cpu_id >= 0), else 0
 *   clobbers: rax, rcx, flags.
 */
LOCALFUNC rseq_area
    xor %eax, %eax
    cmpq $0, rseq_enabled(%rip)
    je 1f
    mov %fs:0, %rcx
    add rseq_offset(%rip), %rcx
    cmpl $0, RSEQ_CPU_ID(%rcx)
    jl 1f                              /* -1 uninitialized, -2 failed          */
    mov %rcx, %rax
1:  ret
ENDFUNC rseq_area

/*
 * signals_arm                                            [internal, leaf]
 *   in:  rax = slot of a thread entering its outermost scope
 *   out: the thread's rseq_cs points to rseq_descriptor (if it has an area)
 *   clobbers: rcx, rdx, flags.
 */
LOCALFUNC signals_arm
    mov SLOT_RSEQ(%rax), %rcx
    test %rcx, %rcx
    jz 1f
    lea rseq_descriptor(%rip), %rdx
    mov %rdx, RSEQ_CS(%rcx)
1:  ret
ENDFUNC signals_arm

/*
 * scrub_altstack                                         [internal, leaf]
 *   in:  rdi = 24 bytes of scratch memory (a stack_t): the slot's vector
 *        rsi = this thread's slot, depth not yet decremented
 *   out: the alternate stack is all zero if a frame was written on it; the
 *        outermost scope leaves rseq_cs NULL if it still held our descriptor
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11, flags.  r8-r10 held OR-ed
 *        contents of the alternate stack: the trampolines clear them before
 *        returning.  Uses no stack beyond its return address.
 */
LOCALFUNC scrub_altstack
    mov SLOT_RSEQ(%rsi), %rax
    test %rax, %rax
    jz .Lquery
    lea rseq_descriptor(%rip), %rcx
    cmp %rcx, RSEQ_CS(%rax)
    jne .Lquery                        /* a signal (or preemption) may have come */
    cmpq $1, SLOT_DEPTH(%rsi)
    jne 9f
    movq $0, RSEQ_CS(%rax)             /* outermost scope ends: disarm          */
    ret
.Lquery:
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
