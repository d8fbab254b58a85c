#include "wal_syncer.h"

#include <utility>

#include "tcc/common/thread_name.h"
#include "tcc/participant/rocksdb_status.h"

namespace tcc::participant::internal {

WalSyncer::WalSyncer(rocksdb::DB* db, Clock* clock,
                     absl::Duration deferred_delay)
    : db_(db),
      buffered_wal_(db->GetDBOptions().manual_wal_flush),
      clock_(clock),
      deferred_delay_(deferred_delay) {
  db_->GetIntProperty("rocksdb.background-errors",
                      &background_errors_at_start_);
  // A manual clock's time moves without waking anyone: look again.
  listener_id_ =
      clock_->AddAdvanceListener([this] { absl::MutexLock lock(&mu_); });
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
  clock_->RemoveAdvanceListener(listener_id_);
}

void WalSyncer::AfterSync(absl::AnyInvocable<void(absl::Status) &&> done,
                          bool caller_may_sync) {
  absl::Status status;
  std::vector<Waiter> deferred;
  {
    absl::MutexLock lock(&mu_);
    if (!caller_may_sync || syncing_ || !waiters_.empty() || stopping_) {
      waiters_.push_back(std::move(done));
      return;
    }
    syncing_ = true;
    status = failed_;
    deferred.swap(deferred_);  // this sync covers them too
  }
  status = Sync(std::move(status));
  std::move(done)(status);
  for (Waiter& waiter : deferred) std::move(waiter)(status);
  absl::MutexLock lock(&mu_);
  syncing_ = false;  // the loop takes whoever queued meanwhile
}

void WalSyncer::AfterSyncDeferred(
    absl::AnyInvocable<void(absl::Status) &&> done) {
  absl::MutexLock lock(&mu_);
  if (syncing_ || !waiters_.empty() || stopping_ ||
      deferred_delay_ <= absl::ZeroDuration()) {
    // A sync is coming anyway (the next one, for those waiting): ride it.
    waiters_.push_back(std::move(done));
    return;
  }
  if (deferred_.empty()) deferred_deadline_ = clock_->Now() + deferred_delay_;
  deferred_.push_back(std::move(done));
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

bool WalSyncer::DueLocked() const {
  return !syncing_ &&
         (stopping_ || !waiters_.empty() ||
          (!deferred_.empty() && clock_->Now() >= deferred_deadline_));
}

void WalSyncer::Loop() {
  std::vector<Waiter> batch;
  // The deadline the current wait was given: a deferred caller that came
  // since (or left with someone else's sync) needs a new one.
  absl::Time armed = absl::InfiniteFuture();
  for (;;) {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        const absl::Time want =
            deferred_.empty() ? absl::InfiniteFuture() : deferred_deadline_;
        return DueLocked() || want != armed;
      };
      while (!DueLocked()) {
        armed = deferred_.empty() ? absl::InfiniteFuture() : deferred_deadline_;
        if (clock_->IsReal()) {
          mu_.AwaitWithDeadline(absl::Condition(&wake), armed);
        } else {
          mu_.Await(absl::Condition(&wake));
        }
      }
      if (waiters_.empty() && deferred_.empty()) return;  // stopping
      batch.swap(waiters_);
      for (Waiter& waiter : deferred_) batch.push_back(std::move(waiter));
      deferred_.clear();
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
