/* counter — prints "COUNTER TIMESTAMP_MS" every 10 ms, counting up from 0.
 * After a checkpoint/restore the count continues instead of restarting,
 * which is how tests see that process state moved. */
#include "workload.h"

int main(void)
{
	workload_init();
	for (uint64_t n = 0;; n++) {
		workload_report(n);
		workload_sleep_ns(10 * 1000 * 1000);
	}
}
