// The group-commit writer and answering threads.
#include "storage/group_commit.h"

#include <pthread.h>
#include <sqlite3.h>

#include <iterator>

#include "absl/strings/str_cat.h"
#include "storage/statement_cache.h"

namespace forgetlab::storage {

GroupCommitQueue::GroupCommitQueue(SQLite::Database* db,
                                   StatementCache* statements,
                                   absl::Mutex* db_mutex, Options options)
    : db_(db),
      statements_(statements),
      db_mutex_(db_mutex),
      options_(std::move(options)) {}

GroupCommitQueue::~GroupCommitQueue() { Stop(); }

void GroupCommitQueue::Start() {
  answerer_ = std::thread([this] { AnswerLoop(); });
  committer_ = std::thread([this] { CommitLoop(); });
}

void GroupCommitQueue::Stop() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();  // after the queued writes
  if (answerer_.joinable()) answerer_.join();    // after their answers
}

void GroupCommitQueue::Enqueue(PendingWrite write) {
  if (std::this_thread::get_id() == answerer_.get_id()) {
    // From a `done`: a blocking write waiting here for its own answer would
    // never get it, so run it now, alone.
    std::vector<PendingWrite> batch;
    batch.push_back(std::move(write));
    std::vector<absl::Status> statuses;
    {
      absl::MutexLock lock(db_mutex_);
      RunBatch(&batch, &statuses);
    }
    batch.front().finish(statuses.front());
    return;
  }
  {
    absl::MutexLock lock(&queue_mu_);
    if (!stopping_) {
      queue_.push_back(std::move(write));
      return;
    }
  }
  write.finish(absl::UnavailableError("the store is closing"));
}

void GroupCommitQueue::CommitLoop() {
  pthread_setname_np(pthread_self(), "store-commit");
  for (;;) {
    Answers answers;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return !queue_.empty() || stopping_;
      };
      queue_mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) break;  // stopping, and every write is done
      if (queue_.size() <= options_.max_batch) {
        answers.writes.swap(queue_);
      } else {
        const auto end =
            queue_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch);
        answers.writes.assign(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(end));
        queue_.erase(queue_.begin(), end);
      }
    }
    if (options_.before_batch) options_.before_batch();
    {
      absl::MutexLock lock(db_mutex_);
      RunBatch(&answers.writes, &answers.statuses);
    }
    // Answering (for the scheduler, sending each reply) takes about as long
    // as the batch did: another thread does it while the next batch runs.
    absl::MutexLock lock(&answer_mu_);
    answers_.push_back(std::move(answers));
  }
  absl::MutexLock lock(&answer_mu_);
  answers_done_ = true;
}

void GroupCommitQueue::AnswerLoop() {
  pthread_setname_np(pthread_self(), "store-answer");
  for (;;) {
    std::deque<Answers> ready;
    {
      absl::MutexLock lock(&answer_mu_);
      auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(answer_mu_) {
        return !answers_.empty() || answers_done_;
      };
      answer_mu_.Await(absl::Condition(&any));
      if (answers_.empty()) return;
      ready.swap(answers_);
    }
    for (Answers& a : ready) {
      for (size_t i = 0; i < a.writes.size(); ++i) {
        a.writes[i].finish(a.statuses[i]);
      }
    }
  }
}

void GroupCommitQueue::RunBatch(std::vector<PendingWrite>* batch,
                                std::vector<absl::Status>* statuses) {
  const size_t n = batch->size();
  statuses->assign(n, absl::OkStatus());
  auto exec = [this](const char* sql) {
    return Guarded([&]() -> absl::Status {
      statements_->Prepared(sql)->exec();
      return absl::OkStatus();
    });
  };
  auto in_transaction = [this] {
    return sqlite3_get_autocommit(db_->getHandle()) == 0;
  };
  // Marks writes [from, to) that succeeded as lost with the transaction.
  auto lose = [statuses](size_t from, size_t to, const absl::Status& why) {
    for (size_t j = from; j < to; ++j) {
      if ((*statuses)[j].ok()) {
        (*statuses)[j] = absl::Status(
            why.code(), absl::StrCat("not stored: the transaction it shared "
                                     "with other writes failed: ",
                                     why.message()));
      }
    }
  };
  auto rolled_back = [this] {
    if (options_.on_rollback) options_.on_rollback();
  };
  size_t first = 0;  // the open transaction's first write
  absl::Status begun = exec("BEGIN IMMEDIATE");
  if (!begun.ok()) {
    lose(0, n, begun);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    absl::Status s = exec("SAVEPOINT write");
    if (s.ok()) s = (*batch)[i].run();
    if (s.ok()) {
      s = exec("RELEASE write");
    } else if (in_transaction()) {
      absl::Status undone = exec("ROLLBACK TO write");
      if (undone.ok()) undone = exec("RELEASE write");
      if (!undone.ok()) s = undone;
    }
    (*statuses)[i] = s;
    if (!s.ok()) rolled_back();
    if (!in_transaction()) {
      // SQLite gave up the whole transaction (a full disk, an I/O error):
      // the earlier writes in it are gone as well. Go on in a new one.
      lose(first, i + 1, s);
      first = i + 1;
      if (first == n) break;
      begun = exec("BEGIN IMMEDIATE");
      if (!begun.ok()) {
        lose(first, n, begun);
        return;
      }
    }
  }
  if (in_transaction()) {
    absl::Status committed = exec("COMMIT");
    if (!committed.ok()) {
      if (in_transaction()) exec("ROLLBACK").IgnoreError();
      lose(first, n, committed);
      rolled_back();
    }
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  writes_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
}

}  // namespace forgetlab::storage
