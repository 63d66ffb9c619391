/* generate.h — seeded instance families for the placement benchmark: the same (family, nodes,
 * containers, seed) always yields the same instance. */
#pragma once

#include <stdint.h>

#include "placement.h"

typedef enum Family {
	FAMILY_UNIFORM,       /* identical nodes, loads uniform in 10..60% */
	FAMILY_SKEWED,        /* most nodes light, a few hot; heavy-tailed container sizes */
	FAMILY_TIGHT,         /* loads 45..75%, thresholds 0.8: little room, many misfits */
	FAMILY_HETEROGENEOUS, /* three node sizes, bandwidths from 0.1 to 2.5 GB/s */
	_FAMILY_MAX,
} Family;

const char *family_to_string(Family f);

/* Node 0 is the overloaded source the containers leave. The migration weight is scaled by
 * 10 / nodes so that the two objective terms keep comparable sizes at every cluster size. */
int instance_generate(Family f, size_t n_nodes, size_t n_containers, uint64_t seed,
                      PlacementInstance **ret);

/* Bin packing on one resource with weight on imbalance only: 3–7 identical nodes at 30–50 %,
 * threshold 0.9, 4–6 containers of 5–40 % of a node with the same demand on every resource,
 * node 0 (or, one time in three, nobody) the source. The greedy start followed by local search
 * is often a local optimum here, so the colony has to leave it to reach the optimum. */
int instance_generate_packing(uint64_t seed, PlacementInstance **ret);
