// Background WAL checkpoints: a second connection copies the WAL back into
// the database file on its own thread, concurrently with the writes, and the
// writer finishes a checkpoint itself only when the WAL has grown so large
// that it must start over.
//
// SQLite's own checkpoints run after a commit and stall every write queued
// behind it (they doubled the scheduler's lease p99), so the store turns
// them off and uses this instead.
#ifndef FORGETLAB_STORAGE_WAL_CHECKPOINTER_H_
#define FORGETLAB_STORAGE_WAL_CHECKPOINTER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

class WalCheckpointer {
 public:
  struct Options {
    std::string path;  // the database file
    // WAL sizes, in pages: a background checkpoint starts once this many
    // are not yet copied back (SQLite's own interval)...
    int checkpoint_frames = 1000;
    // ...and the writer completes one itself at this size, so that the WAL
    // starts over from its beginning.
    int restart_frames = 16000;
  };

  // Opens the second connection, hooks the commits of `writer` (the store's
  // connection, in WAL mode) and starts the thread. UNAVAILABLE when the
  // file cannot be opened again.
  static absl::StatusOr<std::unique_ptr<WalCheckpointer>> Start(
      Options options, sqlite3* writer);
  // Unhooks the writer, stops the thread and closes the second connection.
  // REQUIRES: no write runs on the writer meanwhile.
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

 private:
  WalCheckpointer(Options options, sqlite3* writer);
  // SQLite's WAL hook on the writer, after each commit: wakes the
  // checkpointer, or finishes a checkpoint so that the WAL restarts.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);
  // Checkpoints on connection_ when woken.
  void Loop();

  const Options options_;
  sqlite3* const writer_;
  std::unique_ptr<SQLite::Database> connection_;  // Loop's own
  absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  // The WAL is past options_.restart_frames; the writer finishes the
  // checkpoint (OnWalCommit), and Loop waits.
  bool restart_pending_ ABSL_GUARDED_BY(mu_) = false;
  int wal_frames_ ABSL_GUARDED_BY(mu_) = 0;  // after the last commit
  // WAL frames the last background checkpoint found copied.
  int checkpointed_frames_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_WAL_CHECKPOINTER_H_
