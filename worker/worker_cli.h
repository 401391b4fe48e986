// forgetlab-worker's command line: its flags, and the Worker::Options they
// give. Linked into the binary only (the flags are global).
#ifndef FORGETLAB_WORKER_WORKER_CLI_H_
#define FORGETLAB_WORKER_WORKER_CLI_H_

#include "absl/status/statusor.h"
#include "worker/worker.h"

namespace forgetlab {

inline constexpr char kWorkerUsage[] =
    "forgetlab worker.\n"
    "  forgetlab-worker --scheduler=127.0.0.1:50051 [--device=cpu] "
    "[--threads=N]\n"
    "      [--ca_cert=PEM [--client_cert=PEM --client_key=PEM]] "
    "[--token_file=FILE]";

// The options the parsed flags ask for. INVALID_ARGUMENT or NOT_FOUND
// (naming the flag) when the token cannot be read.
absl::StatusOr<Worker::Options> WorkerOptionsFromFlags();

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_WORKER_CLI_H_
