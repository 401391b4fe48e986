// forgetlab-train's command line: runs one ExperimentSpec file with no
// server, through the worker's code path, and prints the result. Linked into
// the binary only (the flags are global).
#ifndef FORGETLAB_WORKER_TRAIN_CLI_H_
#define FORGETLAB_WORKER_TRAIN_CLI_H_

namespace forgetlab {

inline constexpr char kTrainUsage[] =
    "runs one experiment without a server.\n"
    "  forgetlab-train --spec=experiment.textproto [--format=text|json] "
    "[--device=cpu] [--threads=N] [--repeats=N]";

// Runs the job the parsed flags describe. Returns the exit code: 0 done,
// 1 the job failed, 2 bad flags or spec file.
int RunTrainCommand();

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_TRAIN_CLI_H_
