/* traps.S -- the interruption vector table and its common handler (see traps.h). */
        .section .text.traps,"ax"

        .macro VEC n
        .align 32
        ldi     \n,%r8
        b,n     hv_trap_common
        .endm

        .align 2048
        .globl  hv_ivt
hv_ivt:
        VEC 0
        VEC 1
        VEC 2
        VEC 3
        VEC 4
        VEC 5
        VEC 6
        VEC 7
        VEC 8
        VEC 9
        VEC 10
        VEC 11
        VEC 12
        VEC 13
        VEC 14
        VEC 15
        VEC 16
        VEC 17
        VEC 18
        VEC 19
        VEC 20
        VEC 21
        VEC 22
        VEC 23
        VEC 24
        VEC 25
        VEC 26
        VEC 27
        VEC 28
        VEC 29
        VEC 30
        VEC 31
        .align 32

/* Entered with PSW = 0 (physical, interrupts off), r8 = vector.  r1 and r8 are
 * free: the shadow registers hold the interrupted values and rfir restores them. */
hv_trap_common:
        ldil    L%hv_trapframe,%r1
        ldo     R%hv_trapframe(%r1),%r1
        stw     %r2,8(%r1)
        stw     %r3,12(%r1)
        stw     %r4,16(%r1)
        stw     %r5,20(%r1)
        stw     %r6,24(%r1)
        stw     %r7,28(%r1)
        stw     %r9,36(%r1)
        stw     %r10,40(%r1)
        stw     %r11,44(%r1)
        stw     %r12,48(%r1)
        stw     %r13,52(%r1)
        stw     %r14,56(%r1)
        stw     %r15,60(%r1)
        stw     %r16,64(%r1)
        stw     %r17,68(%r1)
        stw     %r18,72(%r1)
        stw     %r19,76(%r1)
        stw     %r20,80(%r1)
        stw     %r21,84(%r1)
        stw     %r22,88(%r1)
        stw     %r23,92(%r1)
        stw     %r24,96(%r1)
        stw     %r25,100(%r1)
        stw     %r26,104(%r1)
        stw     %r27,108(%r1)
        stw     %r28,112(%r1)
        stw     %r29,116(%r1)
        stw     %r30,120(%r1)
        stw     %r31,124(%r1)
        /* the instruction address queues: read the front, push, read the old back */
        mfctl   %cr18,%r9
        stw     %r9,128(%r1)
        mtctl   %r0,%cr18
        mfctl   %cr18,%r9
        stw     %r9,132(%r1)
        mfctl   %cr17,%r9
        stw     %r9,136(%r1)
        mtctl   %r0,%cr17
        mfctl   %cr17,%r9
        stw     %r9,140(%r1)
        mfctl   %cr22,%r9
        stw     %r9,144(%r1)
        mfctl   %cr19,%r9
        stw     %r9,148(%r1)
        mfctl   %cr20,%r9
        stw     %r9,152(%r1)
        mfctl   %cr21,%r9
        stw     %r9,156(%r1)

        ldil    L%hv_trapstack+64,%sp       /* a private stack (it grows upwards) */
        ldo     R%hv_trapstack+64(%sp),%sp
        copy    %r8,%r26
        copy    %r1,%r25
        .import hv_trap_dispatch,code
        bl      hv_trap_dispatch,%rp
        nop

        ldil    L%hv_trapframe,%r1
        ldo     R%hv_trapframe(%r1),%r1
        ldw     128(%r1),%r9                /* two writes set front and back */
        mtctl   %r9,%cr18
        ldw     132(%r1),%r9
        mtctl   %r9,%cr18
        ldw     136(%r1),%r9
        mtctl   %r9,%cr17
        ldw     140(%r1),%r9
        mtctl   %r9,%cr17
        ldw     144(%r1),%r9
        mtctl   %r9,%cr22
        ldw     8(%r1),%r2
        ldw     12(%r1),%r3
        ldw     16(%r1),%r4
        ldw     20(%r1),%r5
        ldw     24(%r1),%r6
        ldw     28(%r1),%r7
        ldw     40(%r1),%r10
        ldw     44(%r1),%r11
        ldw     48(%r1),%r12
        ldw     52(%r1),%r13
        ldw     56(%r1),%r14
        ldw     60(%r1),%r15
        ldw     72(%r1),%r18
        ldw     76(%r1),%r19
        ldw     80(%r1),%r20
        ldw     84(%r1),%r21
        ldw     88(%r1),%r22
        ldw     92(%r1),%r23
        ldw     104(%r1),%r26
        ldw     108(%r1),%r27
        ldw     112(%r1),%r28
        ldw     116(%r1),%r29
        ldw     120(%r1),%r30
        ldw     124(%r1),%r31
        rfir
        nop

        .globl  hv_set_iva
hv_set_iva:
        bv      %r0(%rp)
        mtctl   %r26,%cr14

/* hv_enter_via_rfi(pc, space, psw): rfi to space:pc with the PSW; rp is kept, so the
 * entered function returns to our caller */
        .globl  hv_enter_via_rfi
hv_enter_via_rfi:
        mtctl   %r25,%cr17
        mtctl   %r25,%cr17
        mtctl   %r26,%cr18
        ldo     4(%r26),%r26
        mtctl   %r26,%cr18
        mtctl   %r24,%cr22
        rfi
        nop

        .section .bss.traps,"aw"
        .align  64
        .globl  hv_trapframe
hv_trapframe:
        .block  160
        .align  64
hv_trapstack:
        .block  16384
