/*
 * fz-cpu.h: forced into the engine's sources in the libFuzzer build only
 * (meson.build, -include). clang 14 rejects __builtin_cpu_supports("f16c")
 * ("invalid cpu feature string"), which engine/types.c and
 * engine/kernels.c use; this answers the same questions from CPUID and
 * XGETBV, so the fuzz build takes the code paths the CPU would.
 */
#ifndef FZ_CPU_H
#define FZ_CPU_H

#if defined(__x86_64__)
#include <cpuid.h>
#include <string.h>

static inline unsigned long long fz_xcr0(void)
{
	unsigned int lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (unsigned long long)hi << 32 | lo;
}

static inline int fz_cpu_supports(const char *f)
{
	unsigned int a, b, c, d, b7 = 0, c7 = 0, a71 = 0, x;
	int avx_os, avx512_os;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	/* The OS saves the AVX (and AVX-512) registers only if XCR0 says. */
	avx_os = (c >> 27 & 1) && (fz_xcr0() & 0x6) == 0x6;
	avx512_os = avx_os && (fz_xcr0() & 0xe0) == 0xe0;
	if (__get_cpuid_count(7, 0, &a, &b7, &c7, &d))
		(void)0;
	if (__get_cpuid_count(7, 1, &a71, &b, &x, &d))
		(void)0;
	if (strcmp(f, "f16c") == 0)
		return avx_os && (c >> 29 & 1);
	if (strcmp(f, "fma") == 0)
		return avx_os && (c >> 12 & 1);
	if (strcmp(f, "avx") == 0)
		return avx_os && (c >> 28 & 1);
	if (strcmp(f, "avx2") == 0)
		return avx_os && (b7 >> 5 & 1);
	if (strcmp(f, "avx512f") == 0)
		return avx512_os && (b7 >> 16 & 1);
	if (strcmp(f, "avx512dq") == 0)
		return avx512_os && (b7 >> 17 & 1);
	if (strcmp(f, "avx512bw") == 0)
		return avx512_os && (b7 >> 30 & 1);
	if (strcmp(f, "avx512vl") == 0)
		return avx512_os && (b7 >> 31 & 1);
	if (strcmp(f, "avx512vnni") == 0)
		return avx512_os && (c7 >> 11 & 1);
	if (strcmp(f, "avx512bf16") == 0)
		return avx512_os && (a71 >> 5 & 1);
	return 0;   /* a feature this table does not know: the portable path */
}

#define __builtin_cpu_supports(f) fz_cpu_supports(f)
#endif

#endif
