/* cli_signal: stop long work cleanly on Ctrl-C (SIGINT) or SIGTERM.
 *
 * After cli_signal_install(), the first SIGINT or SIGTERM only sets a flag and
 * prints a one-line notice; the training loop polls cli_signal_stop_requested()
 * between steps, saves the model and returns (suggested exit status
 * CLI_EXIT_INTERRUPTED, as shells report a death by SIGINT).  The handler then
 * reverts to the default action, so a second Ctrl-C ends the process at once
 * for a user who does not want to wait for the save. */
#ifndef CLI_SIGNAL_H
#define CLI_SIGNAL_H

/* 128 + SIGINT: what a shell shows for a process stopped by Ctrl-C. */
#define CLI_EXIT_INTERRUPTED 130

/* Clear the flag and catch the next SIGINT and SIGTERM (once each). */
void cli_signal_install(void);

/* Nonzero once a SIGINT or SIGTERM arrived after cli_signal_install(). */
int cli_signal_stop_requested(void);

#endif
