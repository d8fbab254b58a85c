#include "tcc/participant/barrier_purger.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"
#include "tcc/common/clock.h"
#include "tcc/common/scheduler.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/rocksdb_barrier_store.h"

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

TEST(BarrierPurgerTest, SweepsOnScheduleAndDeletesOnlyExpiredRecords) {
  testing::ScopedTempDir dir;
  ManualClock clock;
  RocksDbBarrierStoreOptions store_options;
  store_options.path = dir.Child("db");
  store_options.sync = false;
  store_options.clock = &clock;
  auto store = RocksDbBarrierStore::Open(store_options);
  ASSERT_TRUE(store.ok()) << store.status();
  BranchCall call;
  call.gid = "g1";
  call.branch_id = "1";
  auto no_op = [](rocksdb::Transaction&, std::string*) {
    return absl::OkStatus();
  };
  ASSERT_EQ((*store)->Run(call, Phase::kTry, no_op, nullptr).value(),
            BarrierResult::kApplied);

  ThreadPool pool("purge", 1);
  Scheduler scheduler(&clock, &pool);
  SweepLog log;
  BarrierPurgerOptions options;
  options.retention = absl::Hours(1);
  options.interval = absl::Minutes(10);
  options.batch_size = 1;
  options.on_sweep = [&](const absl::StatusOr<int>& purged) {
    log.Record(purged);
  };
  BarrierPurger<RocksDbBarrierStore> purger(store->get(), &scheduler, options);
  purger.Start();

  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(log.WaitFor(1).value(), 0);  // 10 minutes old: kept.
  clock.Advance(absl::Hours(2));
  EXPECT_EQ(log.WaitFor(2).value(), 1);  // Past retention: deleted.
  purger.Stop();

  EXPECT_EQ((*store)->Run(call, Phase::kTry, no_op, nullptr).value(),
            BarrierResult::kApplied);
  scheduler.Shutdown();
  pool.Shutdown();
}

}  // namespace
}  // namespace tcc::participant
