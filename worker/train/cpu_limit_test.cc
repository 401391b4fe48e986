#include "worker/train/cpu_limit.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "worker/train/experiment.h"

namespace forgetlab::train {
namespace {

namespace fs = std::filesystem;

// A folder that stands for / : the cgroup files a test writes live under it.
class CpuLimitTest : public ::testing::Test {
 protected:
  CpuLimitTest()
      : root_(
            fs::temp_directory_path() /
            ("cpu_limit_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(root_);
  }
  ~CpuLimitTest() override { fs::remove_all(root_); }

  void Write(const std::string& path, const std::string& text) {
    const fs::path file = root_ / path.substr(1);
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }

  int Limit(const std::string& mountinfo, const std::string& self_cgroup) {
    return CgroupCpuLimit(mountinfo, self_cgroup, root_.string());
  }

  fs::path root_;
};

// What Docker and Kubernetes show inside a container on cgroup v2: the
// container's own cgroup mounted at /sys/fs/cgroup.
constexpr char kV2Mount[] =
    "24 30 0:22 / /proc rw,nosuid - proc proc rw\n"
    "31 30 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 "
    "cgroup rw,nsdelegate,memory_recursiveprot\n";

TEST_F(CpuLimitTest, V2QuotaRoundsUpToWholeCores) {
  Write("/sys/fs/cgroup/cpu.max", "150000 100000\n");
  EXPECT_EQ(Limit(kV2Mount, "0::/\n"), 2);
  Write("/sys/fs/cgroup/cpu.max", "400000 100000\n");
  EXPECT_EQ(Limit(kV2Mount, "0::/\n"), 4);
  Write("/sys/fs/cgroup/cpu.max", "20000 100000\n");  // a fifth of a core
  EXPECT_EQ(Limit(kV2Mount, "0::/\n"), 1);
  Write("/sys/fs/cgroup/cpu.max", "max 100000\n");
  EXPECT_EQ(Limit(kV2Mount, "0::/\n"), 0);
}

// On a host the process sits deep in the tree (a systemd service with
// CPUQuota=); the tightest of its cgroup and the ones above counts.
TEST_F(CpuLimitTest, V2TakesTheTightestAncestor) {
  const std::string self = "0::/system.slice/forgetlab-worker@1.service\n";
  EXPECT_EQ(Limit(kV2Mount, self), 0);  // no files: no limit
  Write("/sys/fs/cgroup/system.slice/forgetlab-worker@1.service/cpu.max",
        "max 100000\n");
  Write("/sys/fs/cgroup/system.slice/cpu.max", "300000 100000\n");
  EXPECT_EQ(Limit(kV2Mount, self), 3);
  Write("/sys/fs/cgroup/system.slice/forgetlab-worker@1.service/cpu.max",
        "200000 100000\n");
  EXPECT_EQ(Limit(kV2Mount, self), 2);
  // Above the mount is not this process's to read, even if a file is there.
  Write("/sys/fs/cpu.max", "100000 100000\n");
  EXPECT_EQ(Limit(kV2Mount, self), 2);
}

// cgroup v1 (this CI machine, older hosts): the cpu controller has its own
// mount, which may show only part of the tree.
TEST_F(CpuLimitTest, V1ReadsTheCpuControllersQuota) {
  const std::string mountinfo =
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup "
      "rw,cpuset\n";
  const std::string self =
      "4:memory:/kubepods/pod1/abc\n3:cpuset:/\n2:cpu,cpuacct:/kubepods/pod1/"
      "abc\n0::/\n";
  Write("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/abc/cpu.cfs_quota_us",
        "-1\n");
  Write("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/abc/cpu.cfs_period_us",
        "100000\n");
  Write("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us",
        "250000\n");
  Write("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us",
        "100000\n");
  EXPECT_EQ(Limit(mountinfo, self), 3);

  // The same cgroup, mounted from its own folder (a container's view).
  const std::string container =
      "32 31 0:29 /kubepods/pod1/abc /sys/fs/cgroup/cpu rw - cgroup cgroup "
      "rw,cpu\n";
  Write("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n");
  Write("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(Limit(container, "2:cpu:/kubepods/pod1/abc\n"), 1);
  // A cgroup outside what the mount shows is not guessed at.
  EXPECT_EQ(Limit(container, "2:cpu:/other\n"), 0);
}

TEST_F(CpuLimitTest, NothingToReadIsNoLimit) {
  EXPECT_EQ(Limit("", ""), 0);
  EXPECT_EQ(Limit("garbage\n- - -\n", "0::/\nnot a line\n"), 0);
  EXPECT_EQ(Limit(kV2Mount, "0::/\n"), 0);  // no cpu.max written
  Write("/sys/fs/cgroup/cpu.max", "nonsense\n");
  EXPECT_EQ(Limit(kV2Mount, "0::/\n"), 0);
}

TEST(AvailableCpusTest, NeverAboveTheQuotaNorTheMask) {
  const int cpus = AvailableCpus();
  EXPECT_GE(cpus, 1);
  const int quota = CgroupCpuLimit();
  if (quota > 0) EXPECT_LE(cpus, quota);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_LE(cpus, CPU_COUNT(&set));
}

}  // namespace
}  // namespace forgetlab::train
