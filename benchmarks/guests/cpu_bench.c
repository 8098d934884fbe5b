/* cpu_bench: a CPU-bound bare-metal workload for benchmarks/cpu.py -- recursion,
 * CRC32, integer matrix multiply, a sieve and FP dot products.  Prints one
 * checksum line per kernel so both emulators provably did the same work.
 * SCALE (set with -DSCALE=N) multiplies the work. */
#include "hvlib.h"

#ifndef SCALE
#define SCALE 1
#endif

static unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static uint32_t crc_table[256];
static uint8_t buf[16384];

static uint32_t crc32(const uint8_t *p, unsigned n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

#define N 48
static int ma[N][N], mb[N][N], mc[N][N];
static double va[1024], vb[1024];
static uint8_t sieve[65536];

int main(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    uint32_t seed = 12345;
    for (unsigned i = 0; i < sizeof buf; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            ma[i][j] = (i * 7 + j * 3) % 17 - 8;
            mb[i][j] = (i * 5 + j * 11) % 13 - 6;
        }
    for (int i = 0; i < 1024; i++) {
        va[i] = (double)(i % 37) * 0.25 - 3.0;
        vb[i] = (double)(i % 23) * 0.5 + 1.0;
    }

    uint32_t f = 0, crc = 0, msum = 0, primes = 0;
    long long dsum = 0;
    for (int rep = 0; rep < SCALE; rep++) {
        f += fib(24);
        for (int k = 0; k < 8; k++)
            crc ^= crc32(buf, sizeof buf) + (uint32_t)k;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                int s = 0;
                for (int k = 0; k < N; k++)
                    s += ma[i][k] * mb[k][j];
                mc[i][j] = s;
                msum += (uint32_t)s;
            }
        memset(sieve, 1, sizeof sieve);
        for (unsigned i = 2; i < sizeof sieve; i++)
            if (sieve[i]) {
                primes++;
                for (unsigned j = i * 2; j < sizeof sieve; j += i)
                    sieve[j] = 0;
            }
        for (int k = 0; k < 16; k++) {
            double d = 0;
            for (int i = 0; i < 1024; i++)
                d += va[i] * vb[(i + k) & 1023];
            dsum += (long long)(d * 16.0);
        }
    }
    hv_printf("fib %u\ncrc %08x\nmatrix %08x\nprimes %u\ndot %lld\n", f, crc, msum, primes, dsum);
    return 0;
}
