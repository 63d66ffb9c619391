/* Unit tests for the recovery rules: every combination of role, phase and
 * local state, the source's rule through an etcd outage, and the invariants
 * that keep one copy of a container. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "recovery.h"

static void test_source(void **state)
{
	for (LocalState l = LOCAL_RUNNING; l <= LOCAL_ABSENT; l++) {
		assert_int_equal(
		        recovery_decide(RECOVERY_SOURCE, MIGRATION_PLANNED, l, false, false),
		        RECOVERY_MARK_FAILED);
		assert_int_equal(
		        recovery_decide(RECOVERY_SOURCE, MIGRATION_CHECKPOINTING, l, true, false),
		        RECOVERY_ROLL_BACK);
		assert_int_equal(
		        recovery_decide(RECOVERY_SOURCE, MIGRATION_TRANSFERRING, l, true, false),
		        RECOVERY_ROLL_BACK);
		assert_int_equal(
		        recovery_decide(RECOVERY_SOURCE, MIGRATION_RESTORING, l, true, true),
		        RECOVERY_WAIT);
	}
	assert_int_equal(
	        recovery_decide(RECOVERY_SOURCE, MIGRATION_DONE, LOCAL_STOPPED, true, true),
	        RECOVERY_REMOVE_LOCAL);
	assert_int_equal(recovery_decide(RECOVERY_SOURCE, MIGRATION_DONE, LOCAL_ABSENT, true, true),
	                 RECOVERY_NOTHING);
	/* A running container is never removed on a record's word. */
	assert_int_equal(
	        recovery_decide(RECOVERY_SOURCE, MIGRATION_DONE, LOCAL_RUNNING, true, true),
	        RECOVERY_NOTHING);
	assert_int_equal(
	        recovery_decide(RECOVERY_SOURCE, MIGRATION_ROLLED_BACK, LOCAL_STOPPED, true, false),
	        RECOVERY_RESTORE_LOCAL);
	assert_int_equal(
	        recovery_decide(RECOVERY_SOURCE, MIGRATION_ROLLED_BACK, LOCAL_RUNNING, true, false),
	        RECOVERY_NOTHING);
	/* A container that stopped by itself, never checkpointed, stays stopped. */
	assert_int_equal(
	        recovery_decide(RECOVERY_SOURCE, MIGRATION_FAILED, LOCAL_STOPPED, false, false),
	        RECOVERY_NOTHING);
}

static void test_target(void **state)
{
	assert_int_equal(
	        recovery_decide(RECOVERY_TARGET, MIGRATION_RESTORING, LOCAL_RUNNING, true, true),
	        RECOVERY_COMMIT);
	assert_int_equal(
	        recovery_decide(RECOVERY_TARGET, MIGRATION_RESTORING, LOCAL_STOPPED, true, true),
	        RECOVERY_DISCARD);
	assert_int_equal(
	        recovery_decide(RECOVERY_TARGET, MIGRATION_RESTORING, LOCAL_ABSENT, true, true),
	        RECOVERY_DISCARD);
	for (LocalState l = LOCAL_RUNNING; l <= LOCAL_ABSENT; l++) {
		assert_int_equal(
		        recovery_decide(RECOVERY_TARGET, MIGRATION_PLANNED, l, false, false),
		        RECOVERY_WAIT);
		assert_int_equal(
		        recovery_decide(RECOVERY_TARGET, MIGRATION_TRANSFERRING, l, true, false),
		        RECOVERY_WAIT);
		assert_int_equal(recovery_decide(RECOVERY_TARGET, MIGRATION_DONE, l, true, true),
		                 RECOVERY_NOTHING);
	}
	assert_int_equal(
	        recovery_decide(RECOVERY_TARGET, MIGRATION_ROLLED_BACK, LOCAL_RUNNING, true, true),
	        RECOVERY_REMOVE_LOCAL);
	/* Rolled back before any restore here: a same-named container is not ours. */
	assert_int_equal(
	        recovery_decide(RECOVERY_TARGET, MIGRATION_ROLLED_BACK, LOCAL_RUNNING, true, false),
	        RECOVERY_NOTHING);
}

/* Whoever acts, the two parties never both end up owning the container:
 * for every phase, the source keeps or regains it only in phases where the
 * target cannot commit, and vice versa. */
static void test_never_two_owners(void **state)
{
	for (MigrationPhase p = 0; p < _MIGRATION_PHASE_MAX; p++)
		for (LocalState s = LOCAL_RUNNING; s <= LOCAL_ABSENT; s++)
			for (LocalState t = LOCAL_RUNNING; t <= LOCAL_ABSENT; t++)
				for (int b = 0; b < 4; b++) {
					RecoveryAction src = recovery_decide(RECOVERY_SOURCE, p, s,
					                                     b & 1, b & 2);
					RecoveryAction tgt = recovery_decide(RECOVERY_TARGET, p, t,
					                                     b & 1, b & 2);
					bool source_keeps = src == RECOVERY_ROLL_BACK ||
					                    src == RECOVERY_RESTORE_LOCAL;
					bool target_keeps = tgt == RECOVERY_COMMIT;
					assert_false(source_keeps && target_keeps);
					/* done gives it to the target: the source lets go */
					if (p == MIGRATION_DONE)
						assert_false(source_keeps);
					/* rolled back: the target never keeps a copy */
					if (p == MIGRATION_ROLLED_BACK)
						assert_false(target_keeps);
				}
}

static void test_outage(void **state)
{
	SourceOutage o = {
		.last_phase = MIGRATION_TRANSFERRING,
		.stopped = true,
		.waited_usec = 9,
		.bound_usec = 10,
	};
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_WAIT);
	o.waited_usec = 10;
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_RESUME_HERE);
	o.last_phase = MIGRATION_CHECKPOINTING;
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_RESUME_HERE);
	/* The trailer may have reached the target: only the record can tell. */
	o.final_trailer_sent = true;
	o.waited_usec = UINT64_MAX;
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_WAIT);
	/* The target decides restoring; final phases are not the source's. */
	o.final_trailer_sent = false;
	o.last_phase = MIGRATION_RESTORING;
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_WAIT);
	o.last_phase = MIGRATION_DONE;
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_WAIT);
	o.stopped = false;
	assert_int_equal(recovery_decide_outage(&o), OUTAGE_NOTHING);
	assert_string_equal(outage_action_to_string(OUTAGE_RESUME_HERE), "resume-here");
}

/* The phases the record can hold when etcd answers again, for a source that
 * last saw `last` and sent the final trailer or not: its own unanswered
 * write (transferring, or rolled-back) may have landed, and the target
 * enters restoring (then done or rolled-back) only from transferring with a
 * verified archive, which needs the trailer. */
static bool record_reachable(MigrationPhase last, bool trailer_sent, MigrationPhase p)
{
	if (p == last || p == MIGRATION_ROLLED_BACK)
		return true;
	if (p == MIGRATION_TRANSFERRING)
		return last == MIGRATION_CHECKPOINTING;
	if (p == MIGRATION_RESTORING || p == MIGRATION_DONE)
		return trailer_sent && last <= MIGRATION_TRANSFERRING;
	return false;
}

/* The exactly-one-copy invariant through an etcd outage: whenever the
 * source resumes its container alone, every record etcd may hold when it
 * answers again leaves the container to the source (recovery rolls back and
 * keeps the running copy) and never lets the target commit or keep one. */
static void test_outage_one_copy(void **state)
{
	for (MigrationPhase last = 0; last < _MIGRATION_PHASE_MAX; last++)
		for (int b = 0; b < 8; b++) {
			SourceOutage o = {
				.last_phase = last,
				.stopped = b & 1,
				.final_trailer_sent = b & 2,
				.waited_usec = b & 4 ? 100 : 0,
				.bound_usec = 50,
			};
			if (recovery_decide_outage(&o) != OUTAGE_RESUME_HERE)
				continue;
			assert_true(o.stopped && !o.final_trailer_sent);
			for (MigrationPhase p = 0; p < _MIGRATION_PHASE_MAX; p++) {
				if (!record_reachable(last, o.final_trailer_sent, p))
					continue;
				assert_true(p != MIGRATION_RESTORING && p != MIGRATION_DONE);
				RecoveryAction src = recovery_decide(RECOVERY_SOURCE, p,
				                                     LOCAL_RUNNING, true, false);
				assert_true(src == RECOVERY_ROLL_BACK || src == RECOVERY_NOTHING);
				for (LocalState t = LOCAL_RUNNING; t <= LOCAL_ABSENT; t++) {
					RecoveryAction tgt =
					        recovery_decide(RECOVERY_TARGET, p, t, true, false);
					assert_int_not_equal(tgt, RECOVERY_COMMIT);
				}
			}
		}
}

static void test_post_copy(void **state)
{
	/* a post-copy target never commits on recovery: its copy may lack pages */
	assert_int_equal(recovery_decide_mode(RECOVERY_TARGET, MIGRATION_MODE_POST_COPY,
	                                      MIGRATION_RESTORING, LOCAL_RUNNING, false, true),
	                 RECOVERY_DISCARD);
	assert_int_equal(recovery_decide_mode(RECOVERY_TARGET, MIGRATION_MODE_PAGE_SERVER,
	                                      MIGRATION_RESTORING, LOCAL_RUNNING, false, true),
	                 RECOVERY_COMMIT);
	/* the rest as for any mode */
	assert_int_equal(recovery_decide_mode(RECOVERY_SOURCE, MIGRATION_MODE_POST_COPY,
	                                      MIGRATION_RESTORING, LOCAL_STOPPED, true, true),
	                 RECOVERY_WAIT);
	assert_int_equal(recovery_decide_mode(RECOVERY_TARGET, MIGRATION_MODE_POST_COPY,
	                                      MIGRATION_ROLLED_BACK, LOCAL_RUNNING, true, true),
	                 RECOVERY_REMOVE_LOCAL);
}

static void test_keep_pages(void **state)
{
	/* not settled: the handler or recovery may still roll back */
	for (MigrationPhase p = MIGRATION_PLANNED; p <= MIGRATION_RESTORING; p++) {
		assert_false(migration_phase_is_final(p));
		assert_true(recovery_keep_pages(p, LOCAL_STOPPED, true));
		assert_true(recovery_keep_pages(p, LOCAL_RUNNING, false));
	}
	/* a rollback whose restore was not tried yet: recovery will */
	assert_true(recovery_keep_pages(MIGRATION_ROLLED_BACK, LOCAL_STOPPED, false));
	assert_true(recovery_keep_pages(MIGRATION_FAILED, LOCAL_STOPPED, false));
	/* a rollback whose restore failed is settled too */
	assert_false(recovery_keep_pages(MIGRATION_ROLLED_BACK, LOCAL_STOPPED, true));
	assert_false(recovery_keep_pages(MIGRATION_FAILED, LOCAL_STOPPED, true));
	/* restored, gone, or moved */
	assert_false(recovery_keep_pages(MIGRATION_ROLLED_BACK, LOCAL_RUNNING, false));
	assert_false(recovery_keep_pages(MIGRATION_ROLLED_BACK, LOCAL_ABSENT, false));
	assert_false(recovery_keep_pages(MIGRATION_DONE, LOCAL_STOPPED, false));
	assert_false(recovery_keep_pages(MIGRATION_DONE, LOCAL_ABSENT, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source),           cmocka_unit_test(test_target),
		cmocka_unit_test(test_never_two_owners), cmocka_unit_test(test_outage),
		cmocka_unit_test(test_outage_one_copy),  cmocka_unit_test(test_post_copy),
		cmocka_unit_test(test_keep_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
