// Pretrained weights kept on disk (--checkpoint_dir): the file a pretraining
// run's weights live in, named by everything pretraining depends on, and
// saving and loading named modules whole.
#ifndef FORGETLAB_WORKER_TRAIN_CHECKPOINT_H_
#define FORGETLAB_WORKER_TRAIN_CHECKPOINT_H_

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "worker/train/experiment.h"

namespace forgetlab::train {

// dir/pretrained-<key>.pt, the key hashing the family's knobs, the data,
// the pretraining spec and the seed (equal keys, equal pretrained weights);
// "" when `dir` is "".
std::string PretrainCheckpointPath(const std::string& dir,
                                   const ExperimentConfig& config);

using NamedModules = std::vector<std::pair<std::string, torch::nn::Module*>>;

// Writes the modules to `path` whole: a temporary file, then a rename.
void SaveModules(const std::string& path, const NamedModules& modules);

// Loads the modules from `path` onto `device`; false when there is no such
// file.
bool LoadModules(const std::string& path, const torch::Device& device,
                 const NamedModules& modules);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_CHECKPOINT_H_
