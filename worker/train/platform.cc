// What this process trains on: CUDA, the BLAS behind LibTorch, the CPUs it
// may use, LibTorch's version.
#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <string>

#include "worker/train/experiment.h"

namespace forgetlab::train {

bool CudaAvailable() { return torch::cuda::is_available(); }

std::string BlasLibrary() {
  void* symbol = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info;
  if (symbol == nullptr || dladdr(symbol, &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  char resolved[PATH_MAX];
  if (realpath(info.dli_fname, resolved) != nullptr) return resolved;
  return info.dli_fname;
}

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

std::string TorchVersion() { return TORCH_VERSION; }

}  // namespace forgetlab::train
