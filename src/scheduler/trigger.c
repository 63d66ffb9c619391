/* trigger.c — rule 1: is a node overloaded, stale, or fine? The hysteresis walk over the
 * samples a node published, oldest to newest. */
#include <math.h>

#include "macro.h"
#include "scheduler-internal.h"

static bool consecutive(const SchedNode *n, size_t i)
{
	uint64_t prev = n->samples[i - 1].timestamp_usec, cur = n->samples[i].timestamp_usec;

	/* A sample out of order or after a long silence starts a new walk: the agent
	 * restarted, or its clock stepped. */
	return cur > prev && cur - prev <= sched_stale_usec(n);
}

static bool stale(const SchedNode *n, uint64_t now_usec)
{
	uint64_t newest;

	if (n->n_samples == 0)
		return true;
	newest = n->samples[n->n_samples - 1].timestamp_usec;
	/* A sample from the future (clocks apart) counts as fresh. */
	return now_usec > newest && now_usec - newest > sched_stale_usec(n);
}

/* Rule 1's predictive part: is the least-squares line through the newest max(window, 3)
 * consecutive samples of resource r rising and above `thr` predict_samples after the newest? */
static bool predicted_over(const SchedNode *n, const SchedPolicy *p, PlacementResource r,
                           double thr)
{
	size_t k = MAX((size_t)p->window, (size_t)3), first;
	double sx = 0, sy = 0, sxx = 0, sxy = 0, slope, mean_x, mean_y, denom;

	if (p->predict_samples == 0 || n->n_samples < k)
		return false;
	first = n->n_samples - k;
	for (size_t i = first + 1; i < n->n_samples; i++)
		if (!consecutive(n, i))
			return false;
	for (size_t i = 0; i < k; i++) {
		double x = (double)i, y = n->samples[first + i].percent[r];

		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	mean_x = sx / (double)k;
	mean_y = sy / (double)k;
	denom = sxx - sx * mean_x;
	if (denom <= 0)
		return false;
	slope = (sxy - sx * mean_y) / denom;
	return slope > 0 && mean_y + slope * ((double)(k - 1 + p->predict_samples) - mean_x) > thr;
}

void sched_verdict_compute(const SchedNode *n, const SchedPolicy *p, uint64_t now_usec,
                           SchedVerdict *ret)
{
	bool is_stale = stale(n, now_usec), any = false;
	size_t first;

	*ret = (SchedVerdict){ .node = n->name, .severity = -INFINITY };
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
		double thr = sched_policy_threshold(p, n->name, r);
		unsigned run = 0;
		bool over = false;

		ret->threshold[r] = thr;
		for (size_t i = 0; i < n->n_samples; i++) {
			double pct = n->samples[i].percent[r];

			if (i > 0 && !consecutive(n, i)) {
				run = 0;
				over = false;
			}
			run = pct > thr ? run + 1 : 0;
			if (run >= p->window)
				over = true;
			else if (over && pct < thr - p->margin)
				over = false;
		}
		if (!over && n->n_samples > 0 &&
		    n->samples[n->n_samples - 1].percent[r] >= thr - p->margin)
			over = ret->predicted[r] = predicted_over(n, p, r, thr);
		ret->run[r] = run;
		ret->overloaded[r] = over && !is_stale;
		any = any || ret->overloaded[r];
		if (n->n_samples > 0)
			ret->severity =
			        MAX(ret->severity, n->samples[n->n_samples - 1].percent[r] - thr);
	}

	if (n->n_samples == 0)
		ret->severity = 0;
	ret->n_window = MIN(n->n_samples, (size_t)p->window);
	first = n->n_samples - ret->n_window;
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		for (size_t k = 0; k < ret->n_window; k++)
			ret->window[r][k] = n->samples[first + k].percent[r];

	if (is_stale)
		ret->state = SCHED_NODE_STALE;
	else if (n->drained)
		ret->state = SCHED_NODE_DRAINED;
	else if (any)
		ret->state = SCHED_NODE_OVERLOADED;
	else
		ret->state = SCHED_NODE_OK;
}
