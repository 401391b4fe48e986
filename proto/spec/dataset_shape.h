// What the spec rules know of a dataset before any file is read: the image
// shape and the number of classes, for validation and cost estimates. The
// trainer checks the real files.
#ifndef FORGETLAB_PROTO_SPEC_DATASET_SHAPE_H_
#define FORGETLAB_PROTO_SPEC_DATASET_SHAPE_H_

#include <cstdint>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

struct ImageSize {
  int64_t channels = 1, side = 28;
};

// The image size a dataset has (IDX folders other than Fashion-MNIST are
// assumed 28x28).
inline ImageSize ImageSizeOf(const v1::DataSpec& data) {
  if (data.dataset() == "cifar10") return {3, 32};
  if (data.dataset() == "synthetic") {
    return {data.synthetic_channels(), data.synthetic_side()};
  }
  return {1, 28};
}

// Number of classes, or 0 when only the files can tell (idx).
inline int ClassesOf(const v1::DataSpec& data) {
  if (data.dataset() == "synthetic") return data.synthetic_classes();
  if (data.dataset() == "idx") return 0;
  return 10;
}

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_DATASET_SHAPE_H_
