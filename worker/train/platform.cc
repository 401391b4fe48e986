// What this process trains on: CUDA, the BLAS behind LibTorch, the CPUs it
// may use, LibTorch's version.
#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "worker/train/cpu_limit.h"
#include "worker/train/experiment.h"

namespace forgetlab::train {

bool CudaAvailable() { return torch::cuda::is_available(); }

bool DeviceMemory(const std::string& device, int64_t* free_bytes,
                  int64_t* total_bytes) {
  if (device.rfind("cuda", 0) != 0 || !CudaAvailable()) return false;
  // The CUDA runtime's C entry points, looked up at run time: the CPU
  // LibTorch this also builds against has no CUDA headers.
  using GetInfo = int (*)(size_t*, size_t*);
  using SetDevice = int (*)(int);
  void* get_info = dlsym(RTLD_DEFAULT, "cudaMemGetInfo");
  void* set_device = dlsym(RTLD_DEFAULT, "cudaSetDevice");
  for (const char* name : {"libcudart.so.13", "libcudart.so.12",
                           "libcudart.so.11.0", "libcudart.so"}) {
    if (get_info != nullptr && set_device != nullptr) break;
    if (void* runtime = dlopen(name, RTLD_LAZY | RTLD_NOLOAD)) {
      get_info = dlsym(runtime, "cudaMemGetInfo");
      set_device = dlsym(runtime, "cudaSetDevice");
    }
  }
  if (get_info == nullptr || set_device == nullptr) return false;
  const torch::Device where(device);
  torch::empty({1}, torch::TensorOptions().device(where));  // the context
  if (reinterpret_cast<SetDevice>(set_device)(where.has_index() ? where.index()
                                                                : 0) != 0) {
    return false;
  }
  size_t free = 0, total = 0;
  if (reinterpret_cast<GetInfo>(get_info)(&free, &total) != 0) return false;
  *free_bytes = static_cast<int64_t>(free);
  *total_bytes = static_cast<int64_t>(total);
  return true;
}

namespace {

// OpenBLAS's name for the kernels it chose ("Haswell", "SkylakeX", ...), or
// "" when the BLAS is not OpenBLAS.
std::string BlasCore() {
  using CoreName = char* (*)();
  auto core =
      reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = core != nullptr ? core() : nullptr;
  return name != nullptr ? name : "";
}

}  // namespace

std::string BlasLibrary() {
  void* symbol = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info;
  if (symbol == nullptr || dladdr(symbol, &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  char resolved[PATH_MAX];
  std::string path =
      realpath(info.dli_fname, resolved) != nullptr ? resolved : info.dli_fname;
  const std::string core = BlasCore();
  return core.empty() ? path : path + " (" + core + " kernels)";
}

void UseFastBlasKernels(char** argv) {
  if (getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice
  const std::string core = BlasCore();
  // OpenBLAS 0.3.21 (Debian 12) does not know CPUs newer than it, such as
  // Sapphire Rapids, and falls back to its SSE3 kernels. On such a CPU with
  // AVX-512 its SkylakeX kernels trained the default sweep's MLPs 1.3-1.6x
  // faster than its Haswell ones (AVX2 and FMA), and LM, ResNet and ViT jobs
  // as fast; without AVX-512, Haswell's are 1.8-2.2x faster than SSE3's
  // (docs/PERFORMANCE.md, "OpenBLAS kernels").
  if (core != "Prescott" && core != "prescott") return;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    return;
  }
  const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
  // OpenBLAS picks its kernels when it loads, so the choice needs a new
  // process image. If exec fails, this one carries on with the slow kernels.
  setenv("OPENBLAS_CORETYPE", avx512 ? "SkylakeX" : "Haswell", 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");
}

int AvailableCpus() {
  int cpus = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpus = online > 0 ? static_cast<int>(online) : 1;
  }
  // A container's CPU limit leaves the mask alone; more threads than the
  // quota only wait for each other.
  static const int quota = CgroupCpuLimit();
  return quota > 0 ? std::min(cpus, quota) : cpus;
}

void SetIntraOpThreads(int threads) {
  if (threads <= 0) return;
  if (torch::get_num_threads() != threads) torch::set_num_threads(threads);
  using SetThreads = void (*)(int);
  static const auto openblas_set = reinterpret_cast<SetThreads>(
      dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas_set != nullptr) openblas_set(threads);
}

std::mutex& GlobalGeneratorMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}

std::string TorchVersion() { return TORCH_VERSION; }

}  // namespace forgetlab::train
