// The background checkpointer and the writer's WAL hook.
#include "storage/wal_checkpointer.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <glog/logging.h>
#include <pthread.h>
#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace forgetlab::storage {

WalCheckpointer::WalCheckpointer(Options options, sqlite3* writer)
    : options_(std::move(options)), writer_(writer) {}

absl::StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(
    Options options, sqlite3* writer) {
  std::unique_ptr<WalCheckpointer> c(
      new WalCheckpointer(std::move(options), writer));
  try {
    c->connection_ = std::make_unique<SQLite::Database>(c->options_.path,
                                                        SQLite::OPEN_READWRITE);
    c->connection_->setBusyTimeout(5000);
    // Reads the header, so that this connection knows the file is in WAL
    // mode (until then its checkpoints do nothing).
    c->connection_->exec("PRAGMA journal_mode=WAL");
  } catch (const SQLite::Exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open database ", c->options_.path,
                     " a second time for checkpoints: ", e.what()));
  }
  sqlite3_wal_hook(writer, &WalCheckpointer::OnWalCommit, c.get());
  c->thread_ = std::thread([self = c.get()] { self->Loop(); });
  return c;
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int WalCheckpointer::OnWalCommit(void* arg, sqlite3* db, const char* name,
                                 int frames) {
  WalCheckpointer* self = static_cast<WalCheckpointer*>(arg);
  bool finish_here = false;
  {
    absl::MutexLock lock(&self->mu_);
    if (frames < self->wal_frames_) {
      // The WAL started over from its beginning.
      self->checkpointed_frames_ = 0;
      self->restart_pending_ = false;
    }
    self->wal_frames_ = frames;
    if (frames >= self->options_.restart_frames) {
      // SQLite writes the WAL from its beginning again only when a write
      // finds all of it copied, which never happens while the checkpointer
      // copies and writes keep coming. So the checkpointer starts no new
      // round now, and the writer copies the rest itself, between two
      // writes, as soon as the checkpointer's current round is over: what
      // that round left (little, unless it fell behind) and two fsyncs.
      self->restart_pending_ = true;
      finish_here = !self->busy_;
    } else if (frames - self->checkpointed_frames_ >=
               self->options_.checkpoint_frames) {
      self->wanted_ = true;
    }
  }
  if (finish_here) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
  }
  return SQLITE_OK;
}

void WalCheckpointer::Loop() {
  pthread_setname_np(pthread_self(), "store-checkpt");
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return (wanted_ && !restart_pending_) || stop_;
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      wanted_ = false;
      busy_ = true;
    }
    // PASSIVE: copy what no reader still needs, never waiting on the
    // writer.
    int log = 0, copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(connection_->getHandle(), nullptr,
                                  SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      LOG_EVERY_N(WARNING, 100)
          << "checkpoint of " << options_.path
          << " failed: " << sqlite3_errmsg(connection_->getHandle())
          << "; the writer will checkpoint at " << options_.restart_frames
          << " WAL frames";
    }
    absl::MutexLock lock(&mu_);
    busy_ = false;
    if (rc == SQLITE_OK) checkpointed_frames_ = copied;
  }
}

}  // namespace forgetlab::storage
