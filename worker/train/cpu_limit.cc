#include "worker/train/cpu_limit.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

namespace forgetlab::train {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

bool HasToken(const std::string& list, const std::string& token) {
  for (const std::string& t : Split(list, ',')) {
    if (t == token) return true;
  }
  return false;
}

// One mounted hierarchy: its mount point and the cgroup path it shows.
struct Mount {
  std::string point;
  std::string root;
};

// The cgroup2 mount (v2) or the v1 mount whose options include "cpu".
bool FindMount(const std::string& mountinfo, bool v2, Mount* mount) {
  for (const std::string& line : Split(mountinfo, '\n')) {
    // id parent major:minor root point options [tags...] - type source super
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    const std::string& type = dash[1];
    const std::string& super = dash[3];
    if (v2 ? type == "cgroup2" : (type == "cgroup" && HasToken(super, "cpu"))) {
      *mount = {f[4], f[3]};
      return true;
    }
  }
  return false;
}

// Cores one folder's files grant, rounded up; 0 when unlimited or unread.
int FolderLimit(const std::string& folder, bool v2) {
  int64_t quota = -1;
  int64_t period = 0;
  if (v2) {
    std::istringstream in(ReadAll(folder + "/cpu.max"));
    std::string q;
    if (!(in >> q >> period) || q == "max") return 0;
    std::istringstream(q) >> quota;
  } else {
    std::istringstream(ReadAll(folder + "/cpu.cfs_quota_us")) >> quota;
    std::istringstream(ReadAll(folder + "/cpu.cfs_period_us")) >> period;
  }
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::max<int64_t>(1, (quota + period - 1) / period));
}

}  // namespace

int CgroupCpuLimit(const std::string& mountinfo, const std::string& self_cgroup,
                   const std::string& root) {
  for (const std::string& line : Split(self_cgroup, '\n')) {
    // hierarchy-id:controllers:path; v2 is "0::path".
    const size_t first = line.find(':');
    const size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const bool v2 = line.compare(0, first, "0") == 0 && controllers.empty();
    if (!v2 && !HasToken(controllers, "cpu")) continue;
    Mount mount;
    if (!FindMount(mountinfo, v2, &mount)) continue;
    std::string path = line.substr(second + 1);
    // The mount shows the hierarchy from mount.root down; above it, nothing.
    if (mount.root != "/") {
      if (path.compare(0, mount.root.size(), mount.root) != 0) continue;
      path = path.substr(mount.root.size());
    }
    std::string folder = root + mount.point + (path == "/" ? "" : path);
    const std::string top = root + mount.point;
    int limit = 0;
    while (true) {
      const int here = FolderLimit(folder, v2);
      if (here > 0) limit = limit > 0 ? std::min(limit, here) : here;
      if (folder.size() <= top.size()) break;
      folder = folder.substr(0, folder.rfind('/'));
    }
    if (limit > 0) return limit;
  }
  return 0;
}

int CgroupCpuLimit() {
  return CgroupCpuLimit(ReadAll("/proc/self/mountinfo"),
                        ReadAll("/proc/self/cgroup"));
}

}  // namespace forgetlab::train
