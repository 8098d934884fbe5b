/* recursion: deep and branchy call trees -- Ackermann, Fibonacci, Takeuchi,
 * mutual recursion, a 20000-frame deep descent (the stack grows upwards from
 * 1 MiB), Towers of Hanoi and an N-queens search.  Exercises bl/bv return
 * paths, frame set-up (stwm/ldwm, ldo on %sp) and callee-saved registers. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

static uint32_t calls;

static uint32_t __attribute__((noinline)) ack(uint32_t m, uint32_t n)
{
    calls++;
    if (m == 0) return n + 1;
    if (n == 0) return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

static uint32_t __attribute__((noinline)) fib(uint32_t n)
{
    calls++;
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int32_t __attribute__((noinline)) tak(int32_t x, int32_t y, int32_t z)
{
    calls++;
    if (y >= x) return z;
    return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y));
}

static int __attribute__((noinline)) is_odd(uint32_t n);
static int __attribute__((noinline)) is_even(uint32_t n) { calls++; return n == 0 ? 1 : is_odd(n - 1); }
static int __attribute__((noinline)) is_odd(uint32_t n) { calls++; return n == 0 ? 0 : is_even(n - 1); }

/* not a tail call: the sum is formed after the return, and a local array
 * keeps every frame non-trivial */
static uint32_t __attribute__((noinline)) deep(uint32_t n)
{
    volatile uint32_t local[4];
    local[n & 3] = n * 2654435761u;
    if (n == 0) return 1;
    uint32_t r = deep(n - 1);
    return r * 31 + local[n & 3];
}

static uint32_t moves, hmix;
static void __attribute__((noinline)) hanoi(int n, int from, int to, int via)
{
    if (n == 0) return;
    hanoi(n - 1, from, via, to);
    moves++;
    hmix = hmix * 7 + (uint32_t)(from * 3 + to);
    hanoi(n - 1, via, to, from);
}

static int __attribute__((noinline)) queens(int row, int n, uint32_t cols, uint32_t d1, uint32_t d2)
{
    if (row == n) return 1;
    int count = 0;
    uint32_t avail = ~(cols | d1 | d2) & ((1u << n) - 1);
    while (avail) {
        uint32_t bit = avail & (0u - avail);
        avail ^= bit;
        count += queens(row + 1, n, cols | bit, (d1 | bit) << 1, (d2 | bit) >> 1);
    }
    return count;
}

int main(void)
{
    for (uint32_t m = 0; m <= 3; m++) {
        for (uint32_t n = 0; n <= 4; n++) {
            calls = 0;
            uint32_t r = ack(OPQ(m), OPQ(n));
            hv_printf("ack(%u,%u) = %u (%u calls)\n", m, n, r, calls);
        }
    }
    uint32_t r;
    calls = 0;
    r = ack(3, OPQ(6u));
    hv_printf("ack(3,6) = %u (%u calls)\n", r, calls);
    calls = 0;
    r = fib(OPQ(24u));
    hv_printf("fib(24) = %u (%u calls)\n", r, calls);
    calls = 0;
    r = (uint32_t)tak(OPQ(18), 12, 6);
    hv_printf("tak(18,12,6) = %d (%u calls)\n", (int)r, calls);
    calls = 0;
    r = (uint32_t)is_even(OPQ(5001u)) << 1 | (uint32_t)is_odd(OPQ(5001u));
    hv_printf("even/odd(5001) = %u (%u calls)\n", r, calls);
    hv_printf("deep(20000) = %08x\n", deep(OPQ(20000u)));
    hanoi(OPQ(12), 1, 3, 2);
    hv_printf("hanoi(12): %u moves, mix %08x\n", moves, hmix);
    for (int n = 4; n <= 8; n++)
        hv_printf("queens(%d) = %d\n", n, queens(0, OPQ(n), 0, 0, 0));
    return 0;
}
