/* cli_signal: first Ctrl-C asks to stop, the second one kills. */
#include "cli_signal.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The one global of the tools: a signal handler receives no argument, so the
 * only way it can tell the training loop anything is a static object, and the
 * only type C guarantees may be written from a handler is volatile
 * sig_atomic_t. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    static const char msg[] =
        "\n" "charlstm: stopping after the current step and saving; "
        "press Ctrl-C again to quit at once\n";
    (void)sig;
    stop_requested = 1;
    /* write() is async-signal-safe, stdio is not. */
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
}

void cli_signal_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESETHAND: the handler runs once, then the default action (terminate)
     * is back for the second signal.  SA_RESTART: a read in progress is
     * resumed rather than failing with EINTR. */
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    stop_requested = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_signal_stop_requested(void)
{
    return stop_requested != 0;
}
