// forgetlab-train: runs one ExperimentSpec with no server, through the same
// code path as the worker. For debugging specs and checking a GPU.
//   forgetlab-train --spec=experiment.textproto [--format=text|json]
#include <glog/logging.h>

#include "proto/net/usage.h"
#include "worker/train/experiment.h"
#include "worker/train_cli.h"

int main(int argc, char** argv) {
  forgetlab::train::UseFastBlasKernels(argv);
  forgetlab::ParseFlagsOrExit(argc, argv, forgetlab::kTrainUsage);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  return forgetlab::RunTrainCommand();
}
