// The database lock file.
#include "storage/database_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace forgetlab::storage {
namespace {

std::string Now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DatabaseLock>> DatabaseLock::Acquire(
    const std::string& db_path) {
  const std::string path = db_path + ".lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the lock file ", path, " of --db=", db_path,
                     ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[512] = {};
    const ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
    close(fd);
    if (error != EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot lock ", path, ": ", std::strerror(error)));
    }
    const std::string who =
        n > 0 ? std::string(absl::StripAsciiWhitespace(
                    absl::string_view(holder, static_cast<size_t>(n))))
              : "unknown";
    return absl::FailedPreconditionError(absl::StrCat(
        "the database ", db_path, " is in use by another forgetlab-server (",
        who, "); stop that server, or give this one another --db"));
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  auto lock = std::unique_ptr<DatabaseLock>(new DatabaseLock(
      fd, absl::StrCat("pid ", getpid(), " on ", host, ", since ", Now())));
  lock->Write(lock->holder_);
  return lock;
}

DatabaseLock::~DatabaseLock() {
  flock(fd_, LOCK_UN);
  close(fd_);
}

void DatabaseLock::SetHolder(const std::string& what) {
  Write(absl::StrCat(holder_, ", ", what));
}

void DatabaseLock::Write(const std::string& line) {
  const std::string text = line + "\n";
  if (ftruncate(fd_, 0) != 0) return;
  // Best effort: the lock itself is what counts.
  (void)!pwrite(fd_, text.data(), text.size(), 0);
}

}  // namespace forgetlab::storage
