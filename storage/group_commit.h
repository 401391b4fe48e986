// Group commit: a writer thread runs every write queued since its last
// transaction in one BEGIN IMMEDIATE ... COMMIT, each write in its own
// savepoint, and an answering thread tells each caller after the commit.
//
// A write that fails is rolled back alone and the others are committed. A
// caller hears of its write only after the transaction commits (or fails),
// so an OK write is in the WAL, exactly as if it had committed alone. Under
// load this writes the pages that concurrent writes share once per batch
// instead of once per write.
#ifndef FORGETLAB_STORAGE_GROUP_COMMIT_H_
#define FORGETLAB_STORAGE_GROUP_COMMIT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "storage/sqlite_rows.h"

namespace forgetlab::storage {

class StatementCache;

class GroupCommitQueue {
 public:
  struct Options {
    // At most this many writes share a transaction, so that the first of a
    // long queue does not wait for all of it.
    size_t max_batch = 256;
    // Run by the writer thread before each batch; lets tests queue writes.
    std::function<void()> before_batch;
    // Run (with the connection's lock held) when a write was rolled back,
    // so that state kept in memory beside the database can be dropped.
    std::function<void()> on_rollback;
  };

  // Batches run on the connection behind `statements`, holding `db_mutex`,
  // the lock that guards that connection. Start() starts the threads.
  GroupCommitQueue(SQLite::Database* db, StatementCache* statements,
                   absl::Mutex* db_mutex, Options options);
  // Stop()s.
  ~GroupCommitQueue();
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  void Start();
  // Runs and answers every write queued so far, then stops the threads;
  // later writes fail with UNAVAILABLE. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(queue_mu_);

  // Queues `body` (run with the connection's lock held, inside the batch's
  // transaction) and calls `done` with its result once the transaction has
  // committed, on the answering thread. R is absl::Status or
  // absl::StatusOr<T>. `done` should not block for long, as later answers
  // wait for it; it may queue further writes.
  template <typename R>
  void Submit(std::function<R()> body, std::function<void(R)> done);

  // Submit, then wait for the commit.
  template <typename R>
  R Run(std::function<R()> body);

  // Transactions committed and writes in them: their ratio is the mean
  // batch size.
  int64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  int64_t writes() const { return writes_.load(std::memory_order_relaxed); }

 private:
  // One queued write. `run` does it inside the batch's transaction and
  // returns its own outcome; `finish` gets, after the commit, OK or why the
  // write did not land (its own error, or the transaction's).
  struct PendingWrite {
    std::function<absl::Status()> run;
    std::function<void(const absl::Status&)> finish;
  };
  // A committed batch and each write's outcome, for AnswerLoop.
  struct Answers {
    std::vector<PendingWrite> writes;
    std::vector<absl::Status> statuses;
  };

  // Queues a write for the next batch. On the answering thread (from a
  // `done`) it runs the write at once, alone: a blocking write there would
  // wait for an answer that only that thread can give.
  void Enqueue(PendingWrite write) ABSL_LOCKS_EXCLUDED(queue_mu_);
  // Runs the queued writes, batch after batch, and hands each batch to
  // AnswerLoop.
  void CommitLoop();
  // Calls each write's `finish` (the callers' `done`) in commit order.
  void AnswerLoop();
  // Runs the writes in one transaction; statuses[i] is write i's outcome.
  void RunBatch(std::vector<PendingWrite>* batch,
                std::vector<absl::Status>* statuses)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(*db_mutex_);

  SQLite::Database* const db_;
  StatementCache* const statements_;
  absl::Mutex* const db_mutex_;
  const Options options_;

  absl::Mutex queue_mu_;
  std::vector<PendingWrite> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> writes_{0};
  std::thread committer_;  // runs CommitLoop

  absl::Mutex answer_mu_;
  std::deque<Answers> answers_ ABSL_GUARDED_BY(answer_mu_);
  bool answers_done_ ABSL_GUARDED_BY(answer_mu_) = false;
  std::thread answerer_;  // runs AnswerLoop
};

template <typename R>
void GroupCommitQueue::Submit(std::function<R()> body,
                              std::function<void(R)> done) {
  auto result = std::make_shared<R>(absl::UnknownError("write not run"));
  Enqueue(PendingWrite{
      [body = std::move(body), result]() -> absl::Status {
        *result = Guarded(body);
        return StatusOf(*result);
      },
      [done = std::move(done), result](const absl::Status& outcome) {
        if (outcome.ok() || !StatusOf(*result).ok()) {
          done(std::move(*result));  // committed, or its own error
        } else {
          done(R(outcome));  // its transaction failed
        }
      }});
}

template <typename R>
R GroupCommitQueue::Run(std::function<R()> body) {
  R result = absl::UnknownError("write not run");
  absl::Notification committed;
  Submit<R>(std::move(body), [&result, &committed](R r) {
    result = std::move(r);
    committed.Notify();
  });
  committed.WaitForNotification();
  return result;
}

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_GROUP_COMMIT_H_
