// In-memory image datasets for the trainer: MNIST-format IDX folders,
// CIFAR-10 binary batches and a seeded synthetic set. Internal to
// worker/train (includes LibTorch).
#ifndef FORGETLAB_WORKER_TRAIN_DATASET_H_
#define FORGETLAB_WORKER_TRAIN_DATASET_H_

#include <torch/torch.h>

#include <memory>
#include <string>

#include "worker/train/experiment.h"
#include "worker/train/models.h"

namespace forgetlab::train {

// Images are flattened (channel-major) normalised float32 rows; labels are
// int64 class indices 0..num_classes-1.
struct Dataset {
  torch::Tensor train_images;  // [n_train, shape.size()]
  torch::Tensor train_labels;  // [n_train]
  torch::Tensor test_images;   // [n_test, shape.size()]
  torch::Tensor test_labels;   // [n_test]
  ImageShape shape;
  int num_classes = 0;
};

// Reads a whole file, gunzipping it when it is gzip data.
TrainStatus ReadMaybeGzipped(const std::string& path, std::string* out);

// Reads an IDX file, gzipped or raw (the ".gz" name is tried first).
// `expected_dims` is 3 for images and 1 for labels. Returns a uint8 tensor
// shaped as the file says, or a status naming the path and what was wrong.
TrainStatus ReadIdxFile(const std::string& path_without_gz, int expected_dims,
                        torch::Tensor* out);

// Loads an MNIST-format folder. The four files are found by name: *train-
// images-idx3-ubyte, *train-labels-idx1-ubyte, and *t10k-* or *test-* for
// the test split (MNIST, Fashion-MNIST, KMNIST, EMNIST), each gzipped or raw.
// `path` may end in a file-name prefix to pick one set in a folder holding
// several (".../emnist/emnist-balanced"). Pixels are scaled to [0, 1] and
// normalised with `mean` and `std`, or with the train split's own mean and
// std when `mean` < 0.
TrainStatus LoadIdxFolder(const std::string& path, double mean, double std,
                          Dataset* out);

// Loads CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin),
// normalised per channel with CIFAR-10's usual means and stds.
TrainStatus LoadCifar10(const std::string& folder, Dataset* out);

// A seeded synthetic set: one Gaussian prototype per class plus noise.
Dataset MakeSyntheticDataset(const DataConfig& config);

// Loads (once per process) the dataset `config` names, on `device`. Later
// calls with the same config and device share the tensors.
TrainStatus GetDataset(const DataConfig& config, const torch::Device& device,
                       std::shared_ptr<const Dataset>* out);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_DATASET_H_
