/* verbs.h — the podmig commands that live outside main.c. */
#pragma once

int verb_nodes(int argc, char *argv[]);
int verb_ps(int argc, char *argv[]);
int verb_migrate(int argc, char *argv[]);
int verb_history(int argc, char *argv[]);
int verb_policy(int argc, char *argv[]);
