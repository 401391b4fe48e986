// Prepared statements kept for the life of a connection, so the hot writes
// and reads compile their SQL once.
#ifndef FORGETLAB_STORAGE_STATEMENT_CACHE_H_
#define FORGETLAB_STORAGE_STATEMENT_CACHE_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <map>
#include <memory>
#include <string>

namespace forgetlab::storage {

// Not thread-safe: used under the lock of the connection it belongs to.
// Destroy it before the connection.
class StatementCache {
 public:
  explicit StatementCache(SQLite::Database& db) : db_(db) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // A prepared statement in use; reset when it goes out of scope, so that a
  // finished read holds no snapshot of the database.
  class Use {
   public:
    explicit Use(SQLite::Statement* q) : q_(q) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    ~Use() { q_->tryReset(); }
    SQLite::Statement* operator->() const { return q_; }
    SQLite::Statement& operator*() const { return *q_; }

   private:
    SQLite::Statement* const q_;
  };

  // The statement for `sql`, prepared on first use. Not for a statement
  // that is still in use further up the stack.
  Use Prepared(const std::string& sql) {
    std::unique_ptr<SQLite::Statement>& q = statements_[sql];
    if (q == nullptr) q = std::make_unique<SQLite::Statement>(db_, sql);
    return Use(q.get());
  }

 private:
  SQLite::Database& db_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_STATEMENT_CACHE_H_
