/* crcsort: CRC-32 (bitwise and table-driven, checked against the standard
 * check value 0xcbf43926), Adler-32, and four sorts (quicksort, heapsort,
 * merge sort, insertion sort) of the same seeded data, with a binary search
 * over the result -- data-dependent branches and loads in tight loops. */
#include "hvlib.h"

#define N 2000

static uint32_t crc_table[256];

static uint32_t crc32_bitwise(const uint8_t *p, unsigned n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_table(const uint8_t *p, unsigned n)
{
    uint32_t c = 0xffffffffu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static uint32_t adler32(const uint8_t *p, unsigned n)
{
    uint32_t a = 1, b = 0;
    while (n--) {
        a += *p++;
        if (a >= 65521) a -= 65521;
        b += a;
        if (b >= 65521) b -= 65521;
    }
    return b << 16 | a;
}

static int32_t data[N], work[N], tmp[N];

static void __attribute__((noinline)) quicksort(int32_t *a, int lo, int hi)
{
    while (lo < hi) {
        int32_t pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) { int32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { quicksort(a, lo, j); lo = i; }
        else { quicksort(a, i, hi); hi = j; }
    }
}

static void sift(int32_t *a, int i, int n)
{
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && a[c + 1] > a[c]) c++;
        if (a[i] >= a[c]) return;
        int32_t t = a[i]; a[i] = a[c]; a[c] = t;
        i = c;
    }
}

static void __attribute__((noinline)) heapsort(int32_t *a, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--) sift(a, i, n);
    for (int e = n - 1; e > 0; e--) {
        int32_t t = a[0]; a[0] = a[e]; a[e] = t;
        sift(a, 0, e);
    }
}

static void __attribute__((noinline)) mergesort(int32_t *a, int32_t *t, int n)
{
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) t[k++] = a[i] <= a[j] ? a[i++] : a[j++];
            while (i < mid) t[k++] = a[i++];
            while (j < hi) t[k++] = a[j++];
        }
        for (int i = 0; i < n; i++) a[i] = t[i];
    }
}

static void __attribute__((noinline)) insertion(int32_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        int32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

static uint32_t checksum(const int32_t *a, int n)
{
    uint32_t h = 0;
    for (int i = 0; i < n; i++) h = (h << 5 | h >> 27) ^ (uint32_t)a[i];
    return h;
}

static int sorted(const int32_t *a, int n)
{
    for (int i = 1; i < n; i++) if (a[i - 1] > a[i]) return 0;
    return 1;
}

static int bsearch_i(const int32_t *a, int n, int32_t key)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        if (a[mid] < key) lo = mid + 1;
        else if (a[mid] > key) hi = mid - 1;
        else return mid;
    }
    return -1 - lo;
}

int main(void)
{
    static const char check[] = "123456789";
    crc32_init();
    hv_printf("crc32 check: %08x %08x adler32: %08x\n",
              crc32_bitwise((const uint8_t *)check, 9), crc32_table((const uint8_t *)check, 9),
              adler32((const uint8_t *)check, 9));
    static uint8_t bytes[4096];
    uint32_t s = 0xc0ffee;
    for (unsigned i = 0; i < sizeof bytes; i++) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        bytes[i] = (uint8_t)s;
    }
    for (unsigned n = 1; n <= 4096; n *= 4)
        hv_printf("crc32(%4u) %08x %08x adler %08x\n", n, crc32_bitwise(bytes, n),
                  crc32_table(bytes, n), adler32(bytes, n));

    for (int i = 0; i < N; i++) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        data[i] = (int32_t)s >> (s & 15);      /* duplicates, negatives, small and large */
    }
    data[7] = (int32_t)0x80000000; data[8] = 0x7fffffff; data[9] = data[10];
    hv_printf("input checksum %08x\n", checksum(data, N));

    memcpy(work, data, sizeof work);
    quicksort(work, 0, N - 1);
    uint32_t ref = checksum(work, N);
    hv_printf("quicksort %08x sorted %d first %d last %d median %d\n", ref, sorted(work, N),
              work[0], work[N - 1], work[N / 2]);
    memcpy(work, data, sizeof work);
    heapsort(work, N);
    hv_printf("heapsort  %08x sorted %d same %d\n", checksum(work, N), sorted(work, N),
              checksum(work, N) == ref);
    memcpy(work, data, sizeof work);
    mergesort(work, tmp, N);
    hv_printf("mergesort %08x sorted %d same %d\n", checksum(work, N), sorted(work, N),
              checksum(work, N) == ref);
    memcpy(work, data, 400 * sizeof work[0]);
    insertion(work, 400);
    hv_printf("insertion(400) %08x sorted %d\n", checksum(work, 400), sorted(work, 400));

    memcpy(work, data, sizeof work);
    mergesort(work, tmp, N);
    int found = 0;
    uint32_t pos = 0;
    for (int i = 0; i < N; i += 3) {
        int r = bsearch_i(work, N, data[i]);
        found += r >= 0 && work[r] == data[i];
        int q = bsearch_i(work, N, data[i] + 1);
        pos = pos * 7 + (uint32_t)q;
    }
    hv_printf("bsearch: found %d of %d, miss mix %08x\n", found, (N + 2) / 3, pos);
    return 0;
}
