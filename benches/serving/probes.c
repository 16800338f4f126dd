/*
 * Probes for benches/serving/probes.sh: what touching memory, running code and computing
 * cost a function call under pgbench load on this machine, with no pgml in it.
 *
 *   pgml_probe(real[], kind, n) returns 0 after:
 *     kind 0: nothing (the probes' own call);
 *     kind 1: 8 chains of 75 dependent loads each over a random cycle of n cache lines
 *             (built once per backend), as a tree walk's groups load their nodes;
 *     kind 2: calls to 48 small functions packed one after another (96 lines, 6 KB);
 *     kind 3: the same 48 functions, each on its own 4 KB page;
 *     kind 4: n dependent multiply-adds in a loop of a few lines (arithmetic, no memory).
 */
#include "postgres.h"
#include "fmgr.h"
#include <stdint.h>
#include <stdlib.h>

PG_MODULE_MAGIC;

/* Six dependent steps; the empty asm keeps the compiler from folding them. */
#define STEPS(i)                                                                  \
	for (int s = 0; s < 6; s++)                                                   \
	{                                                                             \
		x = (x ^ (uint64_t) ((i) * 131 + s * 7 + 1)) + (x >> (s + 1));            \
		__asm__ volatile("" : "+r"(x));                                           \
	}

#define FUNCTION(name, align, i)                                                  \
	static __attribute__((noinline, aligned(align))) uint64_t name##i(uint64_t x) \
	{                                                                             \
		STEPS(i);                                                                 \
		return x;                                                                 \
	}

#define EIGHT(m, n, a, b)                                                         \
	m(n, a, b##0) m(n, a, b##1) m(n, a, b##2) m(n, a, b##3)                       \
	m(n, a, b##4) m(n, a, b##5) m(n, a, b##6) m(n, a, b##7)
#define FORTY_EIGHT(name, align)                                                  \
	EIGHT(FUNCTION, name, align, 1) EIGHT(FUNCTION, name, align, 2)               \
	EIGHT(FUNCTION, name, align, 3) EIGHT(FUNCTION, name, align, 4)               \
	EIGHT(FUNCTION, name, align, 5) EIGHT(FUNCTION, name, align, 6)

FORTY_EIGHT(packed, 64)
FORTY_EIGHT(spread, 4096)

#define CALL(n, a, i) x = n##i(x);
#define CALL_ALL(name)                                                            \
	EIGHT(CALL, name, 0, 1) EIGHT(CALL, name, 0, 2) EIGHT(CALL, name, 0, 3)       \
	EIGHT(CALL, name, 0, 4) EIGHT(CALL, name, 0, 5) EIGHT(CALL, name, 0, 6)

#define CHAINS 8
#define CHAIN_STEPS 75

static uint32_t *cycle;
static int32 cycle_lines = -1;

/* A random cycle through `lines` lines of 64 bytes: each line's first word is the next. */
static void
build_cycle(int32 lines)
{
	uint32_t   *order = palloc(sizeof(uint32_t) * lines);
	uint64_t	r = 88172645463325252ull;

	free(cycle);
	cycle = aligned_alloc(64, (size_t) lines * 64);
	if (cycle == NULL)
		elog(ERROR, "out of memory");
	for (int32 i = 0; i < lines; i++)
		order[i] = i;
	for (int32 i = lines - 1; i > 0; i--)
	{
		int32		j;
		uint32_t	t;

		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		j = (int32) (r % (uint64_t) (i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int32 i = 0; i < lines; i++)
		cycle[order[i] * 16] = order[(i + 1) % lines];
	pfree(order);
	cycle_lines = lines;
}

/* Where the result goes, so that no probe's work is optimized away. */
static volatile uint64_t sink;

PG_FUNCTION_INFO_V1(pgml_probe);

Datum
pgml_probe(PG_FUNCTION_ARGS)
{
	int32		kind = PG_GETARG_INT32(1);
	int32		n = PG_GETARG_INT32(2);
	uint64_t	x = (uint64_t) n;

	switch (kind)
	{
		case 1:
			{
				uint32_t	at[CHAINS];

				if (n < CHAINS || n > (1 << 20))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("lines must be between %d and %d, not %d", CHAINS, 1 << 20, n),
							 errhint("Probe 1 chases loads over that many 64-byte lines.")));
				if (n != cycle_lines)
					build_cycle(n);
				for (int c = 0; c < CHAINS; c++)
					at[c] = (uint32_t) (c * n / CHAINS);
				for (int s = 0; s < CHAIN_STEPS; s++)
					for (int c = 0; c < CHAINS; c++)
						at[c] = cycle[at[c] * 16];
				for (int c = 0; c < CHAINS; c++)
					x ^= at[c];
				break;
			}
		case 2:
			CALL_ALL(packed);
			break;
		case 3:
			CALL_ALL(spread);
			break;
		case 4:
			for (int32 i = 0; i < n; i++)
			{
				x = x * 2862933555777941757ull + 3037000493ull;
				__asm__ volatile("" : "+r"(x));
			}
			break;
		case 0:
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("no probe of kind %d", kind),
					 errhint("Kinds are 0 (the call only) to 4; see benches/serving/probes.c.")));
	}
	sink = x;
	PG_RETURN_INT32(0);
}
