// Dataset loading: gzipped or raw IDX files and the synthetic set.
#include "worker/train/dataset.h"

#include <zlib.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace forgetlab::train {
namespace {

constexpr double kFashionMean = 0.2860;
constexpr double kFashionStd = 0.3530;
constexpr int kIdxUnsignedByte = 0x08;

TrainStatus Error(TrainCode code, std::string message) {
  return TrainStatus{code, std::move(message)};
}

bool FileExists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

// Reads exactly `n` bytes; false on a short read.
bool ReadExactly(gzFile f, void* buffer, size_t n) {
  auto* p = static_cast<unsigned char*>(buffer);
  while (n > 0) {
    const unsigned chunk =
        n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
    const int got = gzread(f, p, chunk);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

TrainStatus ReadIdxFile(const std::string& path_without_gz, int expected_dims,
                        torch::Tensor* out) {
  std::string path = path_without_gz + ".gz";
  if (!FileExists(path)) path = path_without_gz;
  if (!FileExists(path)) {
    return Error(TrainCode::kNotFound,
                 "missing IDX file " + path_without_gz +
                     "[.gz]; for Fashion-MNIST install the Debian package "
                     "dataset-fashion-mnist (deploy/install-deps.sh does)");
  }
  // gzread reads uncompressed files transparently, so one path serves both.
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Error(TrainCode::kNotFound, "cannot open IDX file " + path);
  }
  unsigned char magic[4];
  const std::string kExpected =
      "; expected an MNIST-format IDX file (magic 0x0000080" +
      std::to_string(expected_dims) + ", big-endian sizes)";
  if (!ReadExactly(f, magic, 4) || magic[0] != 0 || magic[1] != 0 ||
      magic[2] != kIdxUnsignedByte || magic[3] != expected_dims) {
    gzclose(f);
    return Error(
        TrainCode::kInvalidArgument,
        "malformed IDX file " + path + ": bad magic number" + kExpected);
  }
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int d = 0; d < expected_dims; ++d) {
    unsigned char b[4];
    if (!ReadExactly(f, b, 4)) {
      gzclose(f);
      return Error(
          TrainCode::kInvalidArgument,
          "malformed IDX file " + path + ": truncated header" + kExpected);
    }
    const int64_t size = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) |
                         (int64_t{b[2]} << 8) | int64_t{b[3]};
    if (size <= 0 || size > (int64_t{1} << 24)) {
      gzclose(f);
      return Error(TrainCode::kInvalidArgument,
                   "malformed IDX file " + path + ": dimension " +
                       std::to_string(d) + " is " + std::to_string(size) +
                       kExpected);
    }
    dims.push_back(size);
    total *= size;
  }
  if (total > (int64_t{1} << 32)) {
    gzclose(f);
    return Error(TrainCode::kInvalidArgument,
                 "IDX file " + path + " is too large (" +
                     std::to_string(total) + " bytes of data)");
  }
  torch::Tensor data = torch::empty(dims, torch::kUInt8);
  const bool complete =
      ReadExactly(f, data.data_ptr<uint8_t>(), static_cast<size_t>(total));
  gzclose(f);
  if (!complete) {
    return Error(TrainCode::kInvalidArgument,
                 "malformed IDX file " + path +
                     ": truncated data (header says " + std::to_string(total) +
                     " bytes)");
  }
  *out = data;
  return {};
}

bool IdxFolderPresent(const std::string& folder) {
  const std::string images = folder + "/train-images-idx3-ubyte";
  return FileExists(images + ".gz") || FileExists(images);
}

TrainStatus LoadIdxFolder(const std::string& folder, Dataset* out) {
  torch::Tensor parts[4];
  const char* kNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  for (int i = 0; i < 4; ++i) {
    TrainStatus s =
        ReadIdxFile(folder + "/" + kNames[i], i % 2 == 0 ? 3 : 1, &parts[i]);
    if (!s.ok()) return s;
  }
  for (int i = 0; i < 4; i += 2) {
    if (parts[i].size(0) != parts[i + 1].size(0)) {
      return Error(TrainCode::kInvalidArgument,
                   "IDX folder " + folder + ": " + kNames[i] + " has " +
                       std::to_string(parts[i].size(0)) + " images but " +
                       kNames[i + 1] + " has " +
                       std::to_string(parts[i + 1].size(0)) + " labels");
    }
  }
  if (parts[0].size(1) != parts[2].size(1) ||
      parts[0].size(2) != parts[2].size(2)) {
    return Error(
        TrainCode::kInvalidArgument,
        "IDX folder " + folder + ": train and test images differ in size");
  }
  auto normalise = [](const torch::Tensor& images) {
    return images.reshape({images.size(0), -1})
        .to(torch::kFloat32)
        .div_(255.0)
        .sub_(kFashionMean)
        .div_(kFashionStd)
        .contiguous();
  };
  out->train_images = normalise(parts[0]);
  out->train_labels = parts[1].to(torch::kInt64);
  out->test_images = normalise(parts[2]);
  out->test_labels = parts[3].to(torch::kInt64);
  out->input_size = out->train_images.size(1);
  out->num_classes =
      static_cast<int>(std::max(out->train_labels.max().item<int64_t>(),
                                out->test_labels.max().item<int64_t>()) +
                       1);
  return {};
}

Dataset MakeSyntheticDataset(int64_t n_train, int64_t n_test, int64_t side,
                             int64_t seed) {
  constexpr int kClasses = 10;
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  const int64_t dim = side * side;
  torch::Tensor prototypes = torch::randn({kClasses, dim}, gen);
  auto make = [&](int64_t n, torch::Tensor* images, torch::Tensor* labels) {
    // Balanced labels in a fixed order, so every class is present.
    *labels = torch::arange(n, torch::kInt64).remainder(kClasses);
    *images = (prototypes.index_select(0, *labels) +
               torch::randn({n, dim}, gen).mul_(1.5))
                  .contiguous();
  };
  Dataset d;
  make(n_train, &d.train_images, &d.train_labels);
  make(n_test, &d.test_images, &d.test_labels);
  d.input_size = dim;
  d.num_classes = kClasses;
  return d;
}

TrainStatus GetDataset(const DataConfig& config, const torch::Device& device,
                       std::shared_ptr<const Dataset>* out) {
  using Key = std::tuple<std::string, std::string, int64_t, int64_t, int64_t,
                         int64_t, std::string>;
  static std::mutex mu;
  static std::map<Key, std::shared_ptr<const Dataset>>* cache =
      new std::map<Key, std::shared_ptr<const Dataset>>();
  const bool synthetic = config.dataset == "synthetic";
  const Key key{config.dataset,
                synthetic ? "" : config.path,
                synthetic ? config.synthetic_train : 0,
                synthetic ? config.synthetic_test : 0,
                synthetic ? config.synthetic_side : 0,
                synthetic ? config.synthetic_seed : 0,
                device.str()};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it != cache->end()) {
    *out = it->second;
    return {};
  }
  Dataset d;
  if (synthetic) {
    d = MakeSyntheticDataset(config.synthetic_train, config.synthetic_test,
                             config.synthetic_side, config.synthetic_seed);
  } else if (config.dataset == "fashion_mnist") {
    TrainStatus s = LoadIdxFolder(config.path, &d);
    if (!s.ok()) return s;
  } else {
    return Error(TrainCode::kInvalidArgument,
                 "unknown dataset '" + config.dataset +
                     "'; known: fashion_mnist, synthetic");
  }
  if (!device.is_cpu()) {
    d.train_images = d.train_images.to(device);
    d.train_labels = d.train_labels.to(device);
    d.test_images = d.test_images.to(device);
    d.test_labels = d.test_labels.to(device);
  }
  auto shared = std::make_shared<const Dataset>(std::move(d));
  (*cache)[key] = shared;
  *out = shared;
  return {};
}

}  // namespace forgetlab::train
