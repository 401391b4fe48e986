// One process per database file: an exclusive lock on "<db>.lock" that the
// kernel drops when the process dies, so a killed server never leaves a
// stale lock behind. The file also says who holds it.
#ifndef FORGETLAB_STORAGE_DATABASE_LOCK_H_
#define FORGETLAB_STORAGE_DATABASE_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace forgetlab::storage {

class DatabaseLock {
 public:
  // Locks `db_path` + ".lock" (creating it). FAILED_PRECONDITION naming the
  // database and the holder (pid, host, since when, its port) when another
  // process holds it; the lock is per open file, so a second lock in the
  // same process fails too.
  static absl::StatusOr<std::unique_ptr<DatabaseLock>> Acquire(
      const std::string& db_path);

  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;
  ~DatabaseLock();  // unlocks

  // Adds `what` (e.g. "listening on port 50051") to the holder's line.
  void SetHolder(const std::string& what);

 private:
  DatabaseLock(int fd, std::string holder) : fd_(fd), holder_(holder) {}
  void Write(const std::string& line);

  const int fd_;
  const std::string holder_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_DATABASE_LOCK_H_
