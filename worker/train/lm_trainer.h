// The language-model track's protocol on LibTorch. Internal to worker/train:
// RunExperiment calls it for family "lm".
#ifndef FORGETLAB_WORKER_TRAIN_LM_TRAINER_H_
#define FORGETLAB_WORKER_TRAIN_LM_TRAINER_H_

#include <torch/torch.h>

#include "worker/train/experiment.h"

namespace forgetlab::train {

// Pretrains a byte-level LM on `pretrain_examples` windows of the pool
// domain, trains the task domains in order with AdamW, and evaluates bits per
// byte and next-byte accuracy on every task and on the pool after each phase
// and every eval_every steps.
TrainStatus RunLmExperiment(const ExperimentConfig& config,
                            const RunOptions& options, torch::Device device,
                            ExperimentResult* result);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_LM_TRAINER_H_
