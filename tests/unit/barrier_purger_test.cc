#include "tcc/participant/barrier_purger.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tcc/common/clock.h"
#include "tcc/common/scheduler.h"
#include "tcc/common/thread_pool.h"

namespace tcc::participant {
namespace {

// Collects on_sweep reports; lets the test wait for the n-th one.
class SweepLog {
 public:
  void Record(const absl::StatusOr<int>& purged) {
    absl::MutexLock lock(&mu_);
    sweeps_.push_back(purged);
  }
  absl::StatusOr<int> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    mu_.Await(absl::Condition(this, &SweepLog::Reached));
    return sweeps_[n - 1];
  }

 private:
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return sweeps_.size() >= wanted_;
  }

  absl::Mutex mu_;
  std::vector<absl::StatusOr<int>> sweeps_ ABSL_GUARDED_BY(mu_);
  size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

// The purger only needs PurgeOlderThan(); PostgresBarrierStore's is tested
// with a real server in postgres_barrier_store_test (the RocksDB store lets
// its records expire in compaction instead). Here, records in memory, so
// that the purger's schedule and its draining are tested alone.
class RecordsInMemory {
 public:
  void Add(absl::Time written) {
    absl::MutexLock lock(&mu_);
    written_.insert(written);
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return written_.size();
  }
  absl::StatusOr<int> PurgeOlderThan(absl::Time cutoff, int max_records) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    int deleted = 0;
    while (deleted < max_records && !written_.empty() &&
           *written_.begin() < cutoff) {
      written_.erase(written_.begin());
      ++deleted;
    }
    return deleted;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  std::multiset<absl::Time> written_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(BarrierPurgerTest, SweepsOnScheduleAndDrainsOnlyExpiredRecords) {
  ManualClock clock;
  RecordsInMemory records;
  for (int i = 0; i < 3; ++i) records.Add(clock.Now());

  ThreadPool pool("purge", 1);
  Scheduler scheduler(&clock, &pool);
  SweepLog log;
  BarrierPurgerOptions options;
  options.retention = absl::Hours(1);
  options.interval = absl::Minutes(10);
  options.batch_size = 2;
  options.on_sweep = [&](const absl::StatusOr<int>& purged) {
    log.Record(purged);
  };
  BarrierPurger<RecordsInMemory> purger(&records, &scheduler, options);
  purger.Start();

  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(log.WaitFor(1).value(), 0);  // 10 minutes old: kept.
  EXPECT_EQ(records.size(), 3u);
  records.Add(clock.Now());  // 10 minutes younger than the first three.
  clock.Advance(absl::Minutes(55));
  // Past retention: the first three, in batches of 2 until one came back
  // short; the fourth is 55 minutes old.
  EXPECT_EQ(log.WaitFor(2).value(), 3);
  EXPECT_EQ(records.calls(), 3);
  EXPECT_EQ(records.size(), 1u);
  purger.Stop();
  scheduler.Shutdown();
  pool.Shutdown();
}

}  // namespace
}  // namespace tcc::participant
