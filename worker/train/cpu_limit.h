// The CPU time a cgroup grants this process, in cores: what a container's
// CPU limit (Kubernetes `limits.cpu`, `docker run --cpus`, systemd's
// CPUQuota=) allows, which the affinity mask does not show.
#ifndef FORGETLAB_WORKER_TRAIN_CPU_LIMIT_H_
#define FORGETLAB_WORKER_TRAIN_CPU_LIMIT_H_

#include <string>

namespace forgetlab::train {

// The smallest ceil(quota / period) over the process's CPU cgroup and every
// ancestor visible under its mount: cgroup v2's cpu.max, or v1's
// cpu.cfs_quota_us and cpu.cfs_period_us. 0 when nothing limits it or
// nothing can be read.
//
// `mountinfo` and `self_cgroup` are the texts of /proc/self/mountinfo and
// /proc/self/cgroup; `root` is prefixed to every path read (empty for the
// real files, a folder in tests).
int CgroupCpuLimit(const std::string& mountinfo, const std::string& self_cgroup,
                   const std::string& root = "");

// CgroupCpuLimit() of this process.
int CgroupCpuLimit();

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_CPU_LIMIT_H_
