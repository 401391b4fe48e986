// The forgetlab command line (CLI11), kept out of main.cc so tests can run it.
#ifndef FORGETLAB_CLIENT_CLI_H_
#define FORGETLAB_CLIENT_CLI_H_

namespace forgetlab {

// Parses argv and runs one subcommand. Returns the process exit code: 0 on
// success, 1 when the call failed, 2 for bad usage or input files.
int RunCli(int argc, char** argv);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_CLI_H_
