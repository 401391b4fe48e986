// Pretrained weights on disk.
#include "worker/train/checkpoint.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace forgetlab::train {
namespace {

// FNV-1a over `text`, as 16 hex digits: a stable name for checkpoint files.
std::string StableHash(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(h));
  return hex;
}

// Everything pretraining depends on, so equal keys mean equal bodies: the
// chosen family's knobs (not the others', which the model ignores), the
// data, the pretraining spec and the seed.
std::string CheckpointKey(const ExperimentConfig& c) {
  std::ostringstream key;
  key << "v2|" << c.family << "|";
  if (c.family == "resnet") {
    key << c.width_multiplier << "|" << c.blocks_per_stage << "|";
  } else if (c.family == "vit") {
    key << c.patch_size << "|" << c.dim << "|" << c.vit_depth << "|" << c.heads
        << "|" << c.mlp_ratio << "|" << c.pooling << "|";
  } else if (c.family == "lm") {
    // Its text: the pretraining domain, from Debian's packages or data.path.
    key << c.dim << "|" << c.lm_depth << "|" << c.heads << "|" << c.context
        << "|" << c.mlp_ratio << "|" << c.data.pretrain_domain << "|"
        << c.warmup_steps << "|";
  } else {
    key << c.depth << "|" << c.width << "|";
  }
  key << c.data.dataset << "|" << c.data.path << "|" << c.data.pretrain_pool
      << "|";
  if (c.data.dataset == "synthetic") {
    key << c.data.synthetic_train << "|" << c.data.synthetic_test << "|"
        << c.data.synthetic_side << "|" << c.data.synthetic_seed << "|"
        << c.data.synthetic_channels << "|" << c.data.synthetic_classes << "|";
  }
  key << c.pretrain_examples << "|" << c.pretrain_steps << "|"
      << c.pretrain_batch << "|" << c.pretrain_lr << "|" << c.momentum << "|"
      << c.seed << "|";
  for (int cls : c.pretrain_classes) key << cls << ",";
  return StableHash(key.str());
}

}  // namespace

std::string PretrainCheckpointPath(const std::string& dir,
                                   const ExperimentConfig& config) {
  if (dir.empty()) return "";
  return dir + "/pretrained-" + CheckpointKey(config) + ".pt";
}

PretrainFiles ChoosePretrainFiles(const RunOptions& options,
                                  const std::string& checkpoint) {
  PretrainFiles files{checkpoint, checkpoint, false};
  if (!options.pretrained_path.empty()) {
    files.load = options.pretrained_path;
    files.must_load = true;
  }
  if (!options.pretrain_output_path.empty()) {
    files.save = options.pretrain_output_path;
  }
  return files;
}

TrainStatus MissingPretrainedWeights(const std::string& path) {
  return {TrainCode::kNotFound,
          "the pretrained weights " + path +
              " are missing; the worker fetches them again"};
}

void SaveModules(const std::string& path, const NamedModules& modules) {
  torch::serialize::OutputArchive archive;
  for (const auto& [name, module] : modules) {
    torch::serialize::OutputArchive part;
    module->save(part);
    archive.write(name, part);
  }
  // One temporary file per writer: two slots (or workers sharing the
  // folder) may pretrain the same key at once.
  static std::atomic<uint64_t> serial{0};
  const std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." +
                          std::to_string(serial.fetch_add(1));
  archive.save_to(tmp);
  std::rename(tmp.c_str(), path.c_str());  // whole or not at all
}

bool LoadModules(const std::string& path, const torch::Device& device,
                 const NamedModules& modules) {
  if (!std::ifstream(path).good()) return false;
  torch::serialize::InputArchive archive;
  archive.load_from(path, device);
  for (const auto& [name, module] : modules) {
    torch::serialize::InputArchive part;
    archive.read(name, part);
    module->load(part);
  }
  return true;
}

}  // namespace forgetlab::train
