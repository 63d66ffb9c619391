/* Unit tests for the recovery rules: every combination of role, phase and
 * local state, and the invariants that keep one copy of a container. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_never_two_owners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
