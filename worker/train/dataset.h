// In-memory image datasets for the trainer: MNIST-format IDX folders and a
// seeded synthetic set. Internal to worker/train (includes LibTorch).
#ifndef FORGETLAB_WORKER_TRAIN_DATASET_H_
#define FORGETLAB_WORKER_TRAIN_DATASET_H_

#include <torch/torch.h>

#include <memory>
#include <string>

#include "worker/train/experiment.h"

namespace forgetlab::train {

// Images are flattened and normalised float32 rows; labels are int64.
struct Dataset {
  torch::Tensor train_images;  // [n_train, input_size]
  torch::Tensor train_labels;  // [n_train]
  torch::Tensor test_images;   // [n_test, input_size]
  torch::Tensor test_labels;   // [n_test]
  int64_t input_size = 0;
  int num_classes = 0;
};

// Reads an IDX file, gzipped or raw (the ".gz" name is tried first).
// `expected_dims` is 3 for images and 1 for labels. Returns a uint8 tensor
// shaped as the file says, or a status naming the path and what was wrong.
TrainStatus ReadIdxFile(const std::string& path_without_gz, int expected_dims,
                        torch::Tensor* out);

// Loads train/test images and labels from an MNIST-format folder
// (train-images-idx3-ubyte[.gz], ...), scaled to [0, 1] then normalised with
// Fashion-MNIST's mean 0.2860 and std 0.3530.
TrainStatus LoadIdxFolder(const std::string& folder, Dataset* out);

// A seeded synthetic set: one Gaussian prototype per class (10 classes) plus
// unit noise, `side` x `side` pixels.
Dataset MakeSyntheticDataset(int64_t n_train, int64_t n_test, int64_t side,
                             int64_t seed);

// Loads (once per process) the dataset `config` names, on `device`. Later
// calls with the same config and device share the tensors.
TrainStatus GetDataset(const DataConfig& config, const torch::Device& device,
                       std::shared_ptr<const Dataset>* out);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_DATASET_H_
