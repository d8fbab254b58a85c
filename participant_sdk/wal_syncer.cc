#include "wal_syncer.h"

#include <utility>

#include "tcc/participant/rocksdb_status.h"

namespace tcc::participant::internal {

WalSyncer::WalSyncer(rocksdb::DB* db) : db_(db), thread_([this] { Loop(); }) {}

WalSyncer::~WalSyncer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void WalSyncer::AfterSync(absl::AnyInvocable<void(absl::Status) &&> done) {
  absl::MutexLock lock(&mu_);
  waiters_.push_back(std::move(done));
}

void WalSyncer::MarkWriteFailed(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (failed_.ok()) failed_ = std::move(status);
}

void WalSyncer::Loop() {
  // The last sequence number known to be on disk (none yet: what recovery
  // found may still be only in the page cache). A round whose waiters saw
  // nothing newer (only reads of synced records) needs no fsync: the
  // sequence number is published only after the write is in the WAL file.
  rocksdb::SequenceNumber synced = 0;
  bool synced_once = false;
  uint64_t background_errors_at_start = 0;
  db_->GetIntProperty("rocksdb.background-errors", &background_errors_at_start);
  std::vector<Waiter> batch;
  for (;;) {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WalSyncer* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stopping_ || !s->waiters_.empty();
          },
          this));
      if (waiters_.empty()) return;  // stopping, nobody left to answer
      batch.swap(waiters_);
      status = failed_;
    }
    if (status.ok()) {
      const rocksdb::SequenceNumber latest = db_->GetLatestSequenceNumber();
      uint64_t background_errors = 0;
      db_->GetIntProperty("rocksdb.background-errors", &background_errors);
      if (background_errors > background_errors_at_start) {
        status = absl::UnavailableError(
            "barrier store: a RocksDB write failed; not syncing (restart the "
            "process to recover)");
        absl::MutexLock lock(&mu_);
        if (failed_.ok()) failed_ = status;
      } else if (!synced_once || latest != synced) {
        status = FromRocksDbStatus(db_->SyncWAL(), "sync barrier store WAL");
        if (status.ok()) {
          synced = latest;
          synced_once = true;
        } else {
          absl::MutexLock lock(&mu_);
          failed_ = status;
        }
      }
    }
    for (Waiter& waiter : batch) std::move(waiter)(status);
    batch.clear();
  }
}

}  // namespace tcc::participant::internal
