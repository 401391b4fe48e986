// The command line of forgetlab-server, forgetlab-worker and forgetlab-train:
// Abseil flags with a help that lists the binary's own flags and exits 0.
#ifndef FORGETLAB_PROTO_NET_USAGE_H_
#define FORGETLAB_PROTO_NET_USAGE_H_

#include <string>
#include <vector>

namespace forgetlab {

// Parses argv. --help, -h and --helpfull print `usage` and every forgetlab
// flag with its help and default, and exit 0; --version prints the version
// and commit and exits 0; an unknown flag is bad usage: it says so and
// exits 2. Returns the positional arguments, argv[0] first.
std::vector<char*> ParseFlagsOrExit(int argc, char** argv, const char* usage);

// "0.5.0 (commit 1a2b3c)" or "0.5.0".
std::string VersionString();

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_NET_USAGE_H_
