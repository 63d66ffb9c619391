/* generate.c — the placement benchmark's instance families (see generate.h). */
#include <errno.h>
#include <math.h>

#include "generate.h"
#include "macro.h"

static const char *const family_names[_FAMILY_MAX] = {
	[FAMILY_UNIFORM] = "uniform",
	[FAMILY_SKEWED] = "skewed",
	[FAMILY_TIGHT] = "tight",
	[FAMILY_HETEROGENEOUS] = "heterogeneous",
};

const char *family_to_string(Family f)
{
	return (unsigned)f < _FAMILY_MAX ? family_names[f] : NULL;
}

typedef struct Gen {
	uint64_t s;
} Gen;

static double gen_uniform(Gen *g, double lo, double hi)
{
	/* splitmix64: tiny, seedable, good enough for instance shapes */
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

#define GB 1e9

int instance_generate(Family f, size_t n_nodes, size_t n_containers, uint64_t seed,
                      PlacementInstance **ret)
{
	PlacementInstance *p = NULL;
	Gen g = { .s = seed * 0x100000001b3ULL + (uint64_t)f * 7919 + n_nodes * 31 + n_containers };
	int r;

	if ((unsigned)f >= _FAMILY_MAX || n_nodes < 2)
		return -EINVAL;
	r = placement_instance_new(n_nodes, n_containers, &p);
	if (r < 0)
		return r;

	for (size_t j = 0; j < n_nodes; j++) {
		PlacementNode *nd = &p->nodes[j];
		double scale = 1, lo = 0.10, hi = 0.60;

		if (f == FAMILY_HETEROGENEOUS) {
			static const double sizes[] = { 0.5, 2, 8 };
			scale = sizes[(size_t)gen_uniform(&g, 0, 3) % 3];
		}
		nd->capacity[PLACEMENT_CPU] = 16 * scale;
		nd->capacity[PLACEMENT_MEMORY] = 64 * GB * scale;
		nd->capacity[PLACEMENT_NETWORK] = 1.25 * GB * MIN(scale, 2.0);
		if (f == FAMILY_TIGHT) {
			lo = 0.45;
			hi = 0.75;
		}
		for (size_t r2 = 0; r2 < _PLACEMENT_RESOURCE_MAX; r2++) {
			double u = gen_uniform(&g, lo, hi);
			if (f == FAMILY_SKEWED)
				/* cubic: most nodes light, a hot tail */
				u = 0.05 + 0.8 * pow(gen_uniform(&g, 0, 1), 3);
			nd->used[r2] = u * nd->capacity[r2];
			nd->threshold[r2] = f == FAMILY_TIGHT ? 0.8 : 0.85;
		}
		nd->bandwidth = f == FAMILY_HETEROGENEOUS ? gen_uniform(&g, 0.1, 2.5) * GB
		                                          : gen_uniform(&g, 0.6, 1.25) * GB;
	}

	for (size_t c = 0; c < n_containers; c++) {
		PlacementContainer *ct = &p->containers[c];
		double size = gen_uniform(&g, 0.02, 0.12); /* fraction of a 16-core/64 GB node */
		if (f == FAMILY_SKEWED)
			size = 0.02 * pow(gen_uniform(&g, 0.03, 1), -0.8); /* Pareto-like */
		if (f == FAMILY_TIGHT)
			size = gen_uniform(&g, 0.06, 0.2);
		size = MIN(size, 0.3);
		ct->demand[PLACEMENT_CPU] = 16 * size * gen_uniform(&g, 0.5, 1.5);
		ct->demand[PLACEMENT_MEMORY] = 64 * GB * size * gen_uniform(&g, 0.5, 1.5);
		ct->demand[PLACEMENT_NETWORK] = 1.25 * GB * size * gen_uniform(&g, 0, 1);
		ct->transfer_bytes = ct->demand[PLACEMENT_MEMORY] * gen_uniform(&g, 0.3, 1);
	}

	/* The source: over its threshold, running every container being placed. */
	p->source = 0;
	for (size_t r2 = 0; r2 < _PLACEMENT_RESOURCE_MAX; r2++) {
		double sum = 0;
		for (size_t c = 0; c < n_containers; c++)
			sum += p->containers[c].demand[r2];
		p->nodes[0].used[r2] =
		        MIN(p->nodes[0].capacity[r2], 0.5 * p->nodes[0].capacity[r2] + sum);
	}

	p->weights.migration = 0.01 * 10.0 / (double)n_nodes;
	*ret = p;
	return 0;
}

int instance_generate_packing(uint64_t seed, PlacementInstance **ret)
{
	PlacementInstance *p = NULL;
	Gen g = { .s = seed * 0x9e3779b97f4a7c15ULL + 17 };
	size_t n = 3 + (size_t)gen_uniform(&g, 0, 5), m = 4 + (size_t)gen_uniform(&g, 0, 3);
	int r;

	r = placement_instance_new(n, m, &p);
	if (r < 0)
		return r;
	for (size_t j = 0; j < n; j++) {
		PlacementNode *nd = &p->nodes[j];
		for (size_t r2 = 0; r2 < _PLACEMENT_RESOURCE_MAX; r2++) {
			nd->capacity[r2] = 10;
			nd->used[r2] = 10 * gen_uniform(&g, 0.3, 0.5);
			nd->threshold[r2] = 0.9;
		}
		nd->bandwidth = gen_uniform(&g, 0.5, 2);
	}
	for (size_t c = 0; c < m; c++) {
		double size = gen_uniform(&g, 0.5, 4);
		for (size_t r2 = 0; r2 < _PLACEMENT_RESOURCE_MAX; r2++)
			p->containers[c].demand[r2] = size;
		p->containers[c].transfer_bytes = gen_uniform(&g, 0, 10);
	}
	p->source = gen_uniform(&g, 0, 1) < 2.0 / 3 ? 0 : -1;
	p->weights.migration = 0;
	p->weights.resource[PLACEMENT_MEMORY] = p->weights.resource[PLACEMENT_NETWORK] = 0;
	*ret = p;
	return 0;
}
