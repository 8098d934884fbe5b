/* hvtest: hvdbg's in-guest test program (static, built with hppa-linux-gnu-gcc).
 *
 * Exercises fork/exec, pipes, signals (including a SIGSEGV caught and left with
 * siglongjmp), floating point, anonymous and file mmap, pthreads and files, and prints
 * deterministic lines only (no pids, addresses or times), each starting "hvtest: ",
 * ending with "hvtest: ALL OK (N checks)" or "hvtest: FAILED (K of N checks)".
 * The exit status is 0 when every check passed.
 *
 *   hvtest                 run every test
 *   hvtest bench [N]       CPU-bound checksum loop (N rounds, default 200), for
 *                          benchmarks/boot.py: "hvbench: start", "hvbench: checksum=..."
 *   hvtest exec-child ARG  (internal) the program the exec test runs
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static int checks, failures;

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hvtest: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

static void check(int ok, const char *what)
{
    checks++;
    if (!ok) {
        failures++;
        say("CHECK FAILED: %s", what);
    }
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
}

/* ---- processes ---- */

static void test_fork(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(42);
    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    check(w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 42, "fork/waitpid");
    say("fork: child exited with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_exec(const char *self)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, "hvtest", "exec-child", "17", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 17 + 1, "exec");
    say("exec: child exited with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static int exec_child(const char *arg)
{
    int v = atoi(arg);
    say("exec: child running with argument %d", v);
    return v + 1;
}

/* ---- pipes ---- */

static void test_pipes(void)
{
    enum { N = 65536 + 1000 };
    static unsigned char buf[N];
    int to_child[2], from_child[2];
    check(pipe(to_child) == 0 && pipe(from_child) == 0, "pipe");
    fill(buf, N, 7);
    uint32_t want = crc32_update(0, buf, N);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        unsigned char tmp[1000];
        uint32_t crc = 0;
        size_t total = 0;
        ssize_t r;
        while ((r = read(to_child[0], tmp, sizeof tmp)) > 0) {
            crc = crc32_update(crc, tmp, (size_t)r);
            total += (size_t)r;
        }
        uint32_t reply[2] = {crc, (uint32_t)total};
        write(from_child[1], reply, sizeof reply);
        _exit(0);
    }
    close(to_child[0]);
    close(from_child[1]);
    size_t off = 0;
    while (off < N) {
        ssize_t w = write(to_child[1], buf + off, N - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(to_child[1]);
    uint32_t reply[2] = {0, 0};
    ssize_t r = read(from_child[0], reply, sizeof reply);
    close(from_child[0]);
    waitpid(pid, NULL, 0);
    check(r == sizeof reply && reply[0] == want && reply[1] == N, "pipe round trip");
    say("pipe: %u bytes through a child, crc32 %08x", (unsigned)reply[1], (unsigned)reply[0]);
}

/* ---- signals ---- */

static volatile sig_atomic_t usr1_count;
static sigjmp_buf segv_env;
static void *volatile segv_addr;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    segv_addr = si->si_addr;
    siglongjmp(segv_env, 1);
}

static void test_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < 3; i++)
        kill(getpid(), SIGUSR1);
    /* blocked, pending, then delivered on unblock */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    kill(getpid(), SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    int was_pending = sigismember(&pend, SIGUSR1);
    int before = usr1_count;
    sigprocmask(SIG_SETMASK, &old, NULL);
    check(usr1_count == 4 && before == 3 && was_pending == 1, "SIGUSR1");
    say("signal: SIGUSR1 handled %d times (pending while blocked: %s)", (int)usr1_count,
        was_pending == 1 ? "yes" : "no");

    /* a signal sent by a child */
    fflush(stdout);
    int before2 = usr1_count;
    pid_t pid = fork();
    if (pid == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    check(usr1_count == before2 + 1, "SIGUSR1 from a child");
    say("signal: SIGUSR1 from a child handled");

    /* SIGSEGV: caught, then left with siglongjmp; twice, so the mask was restored */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    int caught = 0, addr_ok = 0;
    for (int round = 0; round < 2; round++) {
        volatile int *bad = (volatile int *)(uintptr_t)(0x40 + round * 8);
        if (sigsetjmp(segv_env, 1) == 0) {
            *bad = 1;
            say("signal: store to a bad address did not fault");
        } else {
            caught++;
            addr_ok += segv_addr == (void *)bad;
        }
    }
    check(caught == 2 && addr_ok == 2, "SIGSEGV");
    say("signal: SIGSEGV caught %d times, fault address right %d times", caught, addr_ok);

    /* a child killed by a signal */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        *(volatile int *)0 = 0;
        _exit(0);
    }
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child killed by SIGSEGV");
    say("signal: child killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- floating point ---- */

static void test_float(void)
{
    volatile double a = 1.0, third = 3.0;
    double x = a / third;
    double s = 0.0;
    for (int i = 1; i <= 1000; i++)
        s += 1.0 / ((double)i * (double)i);
    double r = sqrt(2.0);
    double e = exp(1.0);
    double l = log(10.0);
    double sn = sin(0.5), cs = cos(0.5);
    float f = 0.1f;
    float fs = 0.0f;
    for (int i = 0; i < 100; i++)
        fs += f;
    long long ll = (long long)(1e15 / 7.0);
    int conv = (int)-2.75;
    say("float: 1/3 = %.17g", x);
    say("float: sum 1/i^2 (1000 terms) = %.17g", s);
    say("float: sqrt(2) = %.17g, e = %.17g, ln 10 = %.17g", r, e, l);
    say("float: sin(0.5) = %.17g, cos(0.5) = %.17g", sn, cs);
    say("float: 100 x 0.1f = %.9g, 1e15/7 = %lld, (int)-2.75 = %d", (double)fs, ll, conv);
    check(fabs(s - 1.6439345666815598) < 1e-12 && fabs(r * r - 2.0) < 1e-15
          && conv == -2 && ll == 142857142857142LL, "float");
}

/* ---- memory mappings ---- */

static void test_mmap(void)
{
    size_t n = 1 << 20;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap anonymous");
    if (p == MAP_FAILED)
        return;
    int zero = 1;
    for (size_t i = 0; i < n; i += 4096)
        zero &= p[i] == 0;
    fill(p, n, 99);
    uint32_t crc = crc32_update(0, p, n);
    munmap(p, n);
    check(zero, "anonymous mapping starts zeroed");
    say("mmap: anonymous 1 MiB, zeroed %s, crc32 after fill %08x", zero ? "yes" : "no",
        (unsigned)crc);

    const char *path = "/tmp/hvtest.map";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    size_t fn = 3 * 4096 + 100;
    unsigned char *buf = malloc(fn);
    fill(buf, fn, 5);
    write(fd, buf, fn);
    unsigned char *m = mmap(NULL, fn, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(m != MAP_FAILED, "mmap file");
    if (m == MAP_FAILED)
        return;
    int same = memcmp(m, buf, fn) == 0;
    for (size_t i = 0; i < fn; i += 1000)
        m[i] ^= 0xff;
    msync(m, fn, MS_SYNC);
    munmap(m, fn);
    unsigned char *back = malloc(fn);
    pread(fd, back, fn, 0);
    close(fd);
    unlink(path);
    for (size_t i = 0; i < fn; i += 1000)
        buf[i] ^= 0xff;
    int written = memcmp(back, buf, fn) == 0;
    check(same && written, "file mapping");
    say("mmap: file of %u bytes, contents %s, writes through %s, crc32 %08x", (unsigned)fn,
        same ? "match" : "differ", written ? "visible" : "lost",
        (unsigned)crc32_update(0, back, fn));
    free(buf);
    free(back);
}

/* ---- threads ---- */

enum { NTHREADS = 4, PER_THREAD = 20000 };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long shared_counter;
static int arrived;

static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned long sum = 0;
    for (long i = 0; i < PER_THREAD; i++) {
        sum += (unsigned long)(i * (id + 1));
        pthread_mutex_lock(&lock);
        shared_counter++;
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    arrived++;
    pthread_cond_broadcast(&cond);
    while (arrived < NTHREADS)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return (void *)sum;
}

static void test_threads(void)
{
    pthread_t t[NTHREADS];
    unsigned long total = 0;
    int ok = 1;
    for (long i = 0; i < NTHREADS; i++)
        ok &= pthread_create(&t[i], NULL, worker, (void *)i) == 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r = NULL;
        ok &= pthread_join(t[i], &r) == 0;
        total += (unsigned long)r;
    }
    check(ok && shared_counter == NTHREADS * PER_THREAD, "pthreads");
    say("threads: %d threads, counter %ld, sum %lu", NTHREADS, shared_counter, total);
}

/* ---- files ---- */

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_files(void)
{
    const char *dir = "/tmp/hvtest.d";
    mkdir(dir, 0755);
    char path[64], path2[64];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        FILE *f = fopen(path, "w");
        for (int j = 0; j <= i * 100; j++)
            fprintf(f, "line %d of file %d\n", j, i);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/f4", dir);
    snprintf(path2, sizeof path2, "%s/renamed", dir);
    int ren = rename(path, path2) == 0;
    struct stat st;
    int st_ok = stat(path2, &st) == 0;
    DIR *d = opendir(dir);
    char *names[16];
    int count = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) && count < 16)
        if (de->d_name[0] != '.')
            names[count++] = strdup(de->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)count, sizeof names[0], cmpstr);
    char list[128] = "";
    for (int i = 0; i < count; i++) {
        strcat(list, i ? " " : "");
        strcat(list, names[i]);
    }
    /* read back with stdio, lseek and read */
    int fd = open(path2, O_RDONLY);
    char tail[32] = "";
    lseek(fd, -19, SEEK_END);           /* the last line without its newline */
    ssize_t r = read(fd, tail, 18);
    tail[r > 0 ? r : 0] = 0;
    close(fd);
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
        free(names[i]);
    }
    int rm = rmdir(dir) == 0;
    check(ren && st_ok && count == 5 && rm && st.st_size == 7509, "files");
    say("files: %d files [%s], renamed size %lld, tail \"%s\", removed %s", count, list,
        (long long)st.st_size, tail, rm ? "yes" : "no");
}

static void test_uname(void)
{
    struct utsname u;
    uname(&u);
    say("uname: %s %s", u.sysname, u.machine);
    check(strcmp(u.sysname, "Linux") == 0, "uname");
}

/* ---- benchmark ---- */

static int bench(int rounds)
{
    enum { N = 1 << 16 };
    static unsigned char buf[N];
    static uint32_t sieve_words[N / 32];
    uint32_t crc = 0;
    printf("hvbench: start\n");
    fflush(stdout);
    for (int r = 0; r < rounds; r++) {
        fill(buf, N, (uint32_t)r);
        crc = crc32_update(crc, buf, N / 4);
        memset(sieve_words, 0, sizeof sieve_words);
        unsigned primes = 0;
        for (unsigned i = 2; i < N; i++) {
            if (sieve_words[i / 32] & (1u << (i % 32)))
                continue;
            primes++;
            for (unsigned j = i * 2; j < N; j += i)
                sieve_words[j / 32] |= 1u << (j % 32);
        }
        crc ^= primes;
    }
    printf("hvbench: checksum=%08x rounds=%d\n", (unsigned)crc, rounds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "exec-child") == 0)
        return exec_child(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "bench") == 0)
        return bench(argc >= 3 ? atoi(argv[2]) : 200);
    say("start");
    test_uname();
    test_fork();
    test_exec("/proc/self/exe");
    test_pipes();
    test_signals();
    test_float();
    test_mmap();
    test_threads();
    test_files();
    if (failures)
        say("FAILED (%d of %d checks)", failures, checks);
    else
        say("ALL OK (%d checks)", checks);
    return failures != 0;
}
