// forgetlab-server's command line: its flags, the SchedulerServer::Options
// they give, and the `tokens add` command. Linked into the binary only (the
// flags are global).
#ifndef FORGETLAB_SERVER_SERVER_CLI_H_
#define FORGETLAB_SERVER_SERVER_CLI_H_

#include <string>

#include "server/scheduler.h"

namespace forgetlab {

inline constexpr char kServerUsage[] =
    "forgetlab scheduler.\n"
    "  forgetlab-server --listen=127.0.0.1:50051 --db=forgetlab.db\n"
    "      [--tls_cert=PEM --tls_key=PEM [--client_ca=PEM]] "
    "[--tokens_file=FILE]\n"
    "  forgetlab-server tokens add --role=worker|client|admin --name=NAME "
    "--tokens_file=FILE\n";

// The options the parsed flags ask for.
SchedulerServer::Options ServerOptionsFromFlags();

// `forgetlab-server tokens add`: adds a token of --role for --name to
// --tokens_file and prints it once, on stdout. Returns the exit code.
int RunTokensAdd();

// Writes the bound port to --port_file (whole, then renamed), if set.
void WritePortFile(int port);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_SERVER_CLI_H_
