/* setjmp: our own setjmp/longjmp (setjmp.setjmp.S): plain return values,
 * longjmp(0) -> 1, unwinding out of deep recursion, nested handlers
 * (try/throw chains), and callee-saved registers surviving the jump. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

typedef uint32_t hv_jmp_buf[19];
int hv_setjmp(hv_jmp_buf) __attribute__((returns_twice));
void hv_longjmp(hv_jmp_buf, int) __attribute__((noreturn));

static hv_jmp_buf top;
static volatile int depth_reached;

static void __attribute__((noinline)) dive(int depth, int limit, hv_jmp_buf jb)
{
    volatile uint32_t pad[8];            /* make each frame use stack */
    pad[depth & 7] = (uint32_t)depth;
    depth_reached = depth + (int)pad[depth & 7] - depth;
    if (depth == limit)
        hv_longjmp(jb, depth * 3);
    dive(depth + 1, limit, jb);
    pad[0] = 0;                          /* not a tail call */
}

/* a handler chain: each level installs a handler and rethrows some codes */
static hv_jmp_buf *handler;
static uint32_t trace;

static void __attribute__((noinline)) throw_(int code)
{
    trace = trace * 16 + (uint32_t)code;
    hv_longjmp(*handler, code);
}

static int __attribute__((noinline)) level(int n, int code)
{
    hv_jmp_buf jb;
    hv_jmp_buf *volatile saved = handler;
    volatile int local = n * 100;
    int r = hv_setjmp(jb);
    if (r == 0) {
        handler = &jb;
        if (n == 0)
            throw_(code);
        int v = level(n - 1, code);
        handler = saved;
        return v + 1;
    }
    handler = saved;
    if (r == n + 1) {                    /* caught here */
        trace = trace * 16 + 0xc;
        return local + r;
    }
    throw_(r);                           /* rethrow to the outer handler */
}

static uint32_t __attribute__((noinline)) keep_regs(uint32_t seed)
{
    /* values computed before setjmp and only read after: gcc keeps them in
     * callee-saved registers, which longjmp must restore */
    uint32_t a = seed * 3 + 1, b = seed ^ 0x5555u, c = seed << 4, d = ~seed, e = seed >> 3;
    uint32_t f = a + b, g = c - d, h = e ^ a;
    hv_jmp_buf jb;
    if (hv_setjmp(jb) == 0) {
        dive(0, 5, jb);                   /* clobbers registers in between */
        return 0xbad;
    }
    return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h;
}

int main(void)
{
    volatile int count = 0;
    int r = hv_setjmp(top);
    hv_printf("setjmp returned %d (count %d)\n", r, count);
    count++;
    if (r == 0)
        hv_longjmp(top, OPQ(0));         /* 0 must arrive as 1 */
    if (r == 1)
        hv_longjmp(top, OPQ(-7));
    if (r == -7)
        hv_longjmp(top, OPQ(0x12345678));

    for (int lim = 0; lim < 200; lim += 37) {
        hv_jmp_buf jb;
        int v = hv_setjmp(jb);
        if (v == 0)
            dive(0, lim, jb);
        hv_printf("dive %d: longjmp value %d depth %d\n", lim, v, depth_reached);
    }

    for (int code = 1; code <= 5; code++) {
        hv_jmp_buf outer;
        trace = 0;
        handler = &outer;
        int v = hv_setjmp(outer);
        if (v == 0)
            v = level(3, code);
        else
            v = -v;
        hv_printf("throw %d: result %d trace %x\n", code, v, trace);
    }
    hv_printf("regs: %08x %08x\n", keep_regs(OPQ(0x1234u)), keep_regs(OPQ(0xfedcba98u)));
    return 0;
}
