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

// Which files a run loads its pretrained weights from and saves them to:
// RunOptions' pretrained_path and pretrain_output_path when set, else the
// --checkpoint_dir file `checkpoint` ("" for none).
struct PretrainFiles {
  std::string load;
  std::string save;
  bool must_load = false;  // pretrained_path: no pretraining in its place
};
PretrainFiles ChoosePretrainFiles(const RunOptions& options,
                                  const std::string& checkpoint);

// kNotFound for a pretrained_path that is not there.
TrainStatus MissingPretrainedWeights(const std::string& path);

using NamedModules = std::vector<std::pair<std::string, torch::nn::Module*>>;

// Writes the modules to `path` whole: a temporary file, then a rename.
void SaveModules(const std::string& path, const NamedModules& modules);

// Loads the modules from `path` onto `device`; false when there is no such
// file.
bool LoadModules(const std::string& path, const torch::Device& device,
                 const NamedModules& modules);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_CHECKPOINT_H_
