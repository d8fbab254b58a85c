#include "wal_syncer.h"

#include <utility>

#include "tcc/common/thread_name.h"
#include "tcc/participant/rocksdb_status.h"

namespace tcc::participant::internal {

WalSyncer::WalSyncer(rocksdb::DB* db)
    : db_(db), buffered_wal_(db->GetDBOptions().manual_wal_flush) {
  db_->GetIntProperty("rocksdb.background-errors",
                      &background_errors_at_start_);
  thread_ = std::thread([this] {
    NameCurrentThread("wal-sync");
    Loop();
  });
}

WalSyncer::~WalSyncer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void WalSyncer::AfterSync(absl::AnyInvocable<void(absl::Status) &&> done,
                          bool caller_may_sync) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (!caller_may_sync || syncing_ || !waiters_.empty() || stopping_) {
      waiters_.push_back(std::move(done));
      return;
    }
    syncing_ = true;
    status = failed_;
  }
  status = Sync(std::move(status));
  std::move(done)(std::move(status));
  absl::MutexLock lock(&mu_);
  syncing_ = false;  // the loop takes whoever queued meanwhile
}

void WalSyncer::MarkWriteFailed(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (failed_.ok()) failed_ = std::move(status);
}

absl::Status WalSyncer::Sync(absl::Status status) {
  if (!status.ok()) return status;
  // A round whose waiters saw nothing newer (only reads of synced records)
  // needs no fsync: the sequence number is published only after the write
  // is in the WAL file (buffered: in the WAL buffer, which the next
  // FlushWAL() writes).
  const rocksdb::SequenceNumber latest = db_->GetLatestSequenceNumber();
  uint64_t background_errors = 0;
  db_->GetIntProperty("rocksdb.background-errors", &background_errors);
  if (background_errors > background_errors_at_start_) {
    status = absl::UnavailableError(
        "barrier store: a RocksDB write failed; not syncing (restart the "
        "process to recover)");
  } else if (!synced_once_ || latest != synced_) {
    status = FromRocksDbStatus(
        buffered_wal_ ? db_->FlushWAL(/*sync=*/true) : db_->SyncWAL(),
        "sync barrier store WAL");
    if (status.ok()) {
      synced_ = latest;
      synced_once_ = true;
    }
  }
  if (!status.ok()) {
    absl::MutexLock lock(&mu_);
    if (failed_.ok()) failed_ = status;
  }
  return status;
}

void WalSyncer::Loop() {
  std::vector<Waiter> batch;
  for (;;) {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WalSyncer* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return !s->syncing_ && (s->stopping_ || !s->waiters_.empty());
          },
          this));
      if (waiters_.empty()) return;  // stopping, nobody left to answer
      batch.swap(waiters_);
      syncing_ = true;
      status = failed_;
    }
    status = Sync(std::move(status));
    for (Waiter& waiter : batch) std::move(waiter)(status);
    batch.clear();
    absl::MutexLock lock(&mu_);
    syncing_ = false;
  }
}

}  // namespace tcc::participant::internal
