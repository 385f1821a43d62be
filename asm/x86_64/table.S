/*
 * table.S — the open-addressing table routines heap.S and native.S share
 * (format and macros: table.inc).  Both call them with their own table's
 * lock held; nothing here knows which table it works on.
 */
.include "common.inc"
.include "table.inc"

    .text
/*
 * table_rebuild                                          [internal, leaf]
 *
 * The table is replaced by a fresh one holding every live entry of the old
 * one (tombstones dropped); the old one is then unmapped.
 *   in:  rdi = new capacity (a power of two, more than the live entries),
 *        rsi = the table's descriptor (table.inc), rdx = its live entries
 *   out: rax = 0: the descriptor holds the new table, capacity rdi, used =
 *        the live entries; or rax = -1 if mmap failed (the old table is
 *        kept, unchanged)
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11, flags.
 */
LOCALFUNC table_rebuild
    PUSH_RBX_R12_R15
    push %rsi                         /* the descriptor                            */
    .cfi_def_cfa_offset 56
    push %rdx                         /* the live entries                          */
    .cfi_def_cfa_offset 64
    mov %rdi, %r12                    /* r12 = new capacity                        */
    mov TABLE_ENTRIES(%rsi), %rbx     /* rbx = old table                           */
    mov TABLE_CAP(%rsi), %r14         /* r14 = old capacity                        */
    xor %edi, %edi
    mov %r12, %rsi
    shl $4, %rsi
    mov $3, %edx                      /* PROT_READ | PROT_WRITE                    */
    mov $0x8022, %r10d                /* MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE:
                                         no page faults later, which would make every
                                         scope that allocates scan its stack (stack.S) */
    mov $-1, %r8
    xor %r9d, %r9d
    mov $SYS_mmap, %eax
    syscall
    cmp $-4095, %rax
    jae .Lrebuild_fail                /* -errno                                    */
    mov %rax, %r13                    /* r13 = new table                           */
    lea -1(%r12), %rcx                /* rcx = new mask                            */
    xor %esi, %esi                    /* rsi = old index                           */
.Lrebuild_next:
    cmp %r14, %rsi
    jae .Lrebuild_copied
    mov %rsi, %rdx
    shl $4, %rdx
    mov (%rbx, %rdx), %rdi            /* key                                       */
    mov 8(%rbx, %rdx), %r10           /* value                                     */
    inc %rsi
    cmp $TABLE_TOMBSTONE, %rdi
    jbe .Lrebuild_next                /* empty or removed                          */
    TABLE_HASH %rdi
.Lrebuild_probe:
    and %rcx, %rax
    mov %rax, %rdx
    shl $4, %rdx
    cmpq $0, (%r13, %rdx)
    je .Lrebuild_put
    inc %rax
    jmp .Lrebuild_probe
.Lrebuild_put:
    mov %rdi, (%r13, %rdx)
    mov %r10, 8(%r13, %rdx)
    jmp .Lrebuild_next
.Lrebuild_copied:
    test %rbx, %rbx
    jz .Lrebuild_done
    mov %rbx, %rdi                    /* the old table held addresses and sizes    */
    mov %r14, %rsi
    shl $4, %rsi
    mov $SYS_munmap, %eax
    syscall
.Lrebuild_done:
    pop %rdx
    .cfi_def_cfa_offset 56
    pop %rsi
    .cfi_def_cfa_offset 48
    mov %r13, TABLE_ENTRIES(%rsi)
    mov %r12, TABLE_CAP(%rsi)
    mov %rdx, TABLE_USED(%rsi)
    xor %eax, %eax
    jmp .Lrebuild_out
.Lrebuild_fail:
    add $16, %rsp
    .cfi_def_cfa_offset 48
    mov $-1, %rax
.Lrebuild_out:
    POP_RBX_R12_R15
    ret
ENDFUNC table_rebuild

/*
 * table_find                                             [internal, leaf]
 *   in:  rdi = key, r8 = the table's descriptor (table.inc)
 *   out: rax = the key's entry, or 0 if it is not in the table
 *   clobbers: rax, rcx, rdx, r8, r9, flags.
 */
LOCALFUNC table_find
    mov TABLE_CAP(%r8), %rcx
    mov TABLE_ENTRIES(%r8), %r8       /* r8 = entries                              */
    test %rcx, %rcx
    jz .Lfind_absent                  /* no table yet                              */
    dec %rcx                          /* rcx = mask                                */
    TABLE_HASH %rdi
.Lfind_probe:
    TABLE_PROBE_ENTRY                 /* rdx = entry, r9 = its key                 */
    cmp %rdi, %r9
    je .Lfind_found
    test %r9, %r9
    jz .Lfind_absent                  /* empty: the probe chain ends               */
    inc %rax
    jmp .Lfind_probe
.Lfind_found:
    mov %rdx, %rax
    ret
.Lfind_absent:
    xor %eax, %eax
    ret
ENDFUNC table_find

GNU_PROPERTY_NOTES
