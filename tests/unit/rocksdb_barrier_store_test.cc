#include "tcc/participant/rocksdb_barrier_store.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"
#include "tcc/common/clock.h"

namespace tcc::participant {
namespace {

using LocalTransaction = RocksDbBarrierStore::LocalTransaction;

BranchCall Call(std::string gid, std::string branch_id) {
  BranchCall call;
  call.gid = std::move(gid);
  call.branch_id = std::move(branch_id);
  call.action = "test";
  return call;
}

// A body that counts its runs and optionally writes a business key.
struct CountingBody {
  int runs = 0;
  std::string reply;
  std::string business_key;

  absl::Status operator()(LocalTransaction& txn, std::string* out) {
    ++runs;
    if (!business_key.empty()) {
      rocksdb::Status s = txn.Put(business_key, "written");
      if (!s.ok()) return absl::InternalError(s.ToString());
    }
    *out = reply;
    return absl::OkStatus();
  }
};

class RocksDbBarrierStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(RocksDbBarrierStoreOptions options = {}) {
    store_.reset();
    options.path = dir_.Child("db");
    if (options.clock == nullptr) options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
        RocksDbBarrierStore::Open(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  absl::StatusOr<BarrierResult> Run(const BranchCall& call, Phase phase,
                                    CountingBody& body,
                                    std::string* reply = nullptr) {
    return store_->Run(
        call, phase,
        [&](LocalTransaction& txn, std::string* out) { return body(txn, out); },
        reply);
  }

  // Whether the default column family holds `key`.
  bool HasBusinessKey(const std::string& key) {
    std::string value;
    rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), key, &value);
    EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
    return s.ok();
  }

  testing::ScopedTempDir dir_;
  ManualClock clock_;
  std::unique_ptr<RocksDbBarrierStore> store_;
};

TEST_F(RocksDbBarrierStoreTest, EachPhaseRunsItsHandlerOnce) {
  const BranchCall call = Call("g1", "1");
  CountingBody try_body, confirm_body;
  EXPECT_EQ(Run(call, Phase::kTry, try_body).value(), BarrierResult::kApplied);
  EXPECT_EQ(Run(call, Phase::kConfirm, confirm_body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(Run(call, Phase::kConfirm, confirm_body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(try_body.runs, 1);
  EXPECT_EQ(confirm_body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, BusinessWritesCommitWithTheBarrierRecord) {
  CountingBody body;
  body.business_key = "account/alice";
  ASSERT_EQ(Run(Call("g1", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_TRUE(HasBusinessKey("account/alice"));
}

TEST_F(RocksDbBarrierStoreTest,
       DuplicateTryReturnsStoredReplyWithoutRunningHandler) {
  const BranchCall call = Call("g1", "1");
  CountingBody first;
  first.reply = "reservation-42";
  std::string reply;
  ASSERT_EQ(Run(call, Phase::kTry, first, &reply).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(reply, "reservation-42");

  CountingBody second;
  second.reply = "would-be-different";
  EXPECT_EQ(Run(call, Phase::kTry, second, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, "reservation-42");
  EXPECT_EQ(second.runs, 0);
}

TEST_F(RocksDbBarrierStoreTest, CancelBeforeTryIsEmptyAndBlocksLateTry) {
  const BranchCall call = Call("g1", "1");
  CountingBody cancel_body, try_body;
  EXPECT_EQ(Run(call, Phase::kCancel, cancel_body).value(),
            BarrierResult::kEmptyCancel);
  EXPECT_EQ(cancel_body.runs, 0);

  try_body.business_key = "reserved";
  EXPECT_EQ(Run(call, Phase::kTry, try_body).value(),
            BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(try_body.runs, 0);
  EXPECT_FALSE(HasBusinessKey("reserved"));

  // The refusal wrote nothing: it stays refused, and the cancel stays done.
  EXPECT_EQ(Run(call, Phase::kTry, try_body).value(),
            BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(Run(call, Phase::kCancel, cancel_body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(cancel_body.runs, 0);
}

TEST_F(RocksDbBarrierStoreTest, CancelAfterTryRunsHandlerOnce) {
  const BranchCall call = Call("g1", "1");
  CountingBody try_body, cancel_body;
  ASSERT_EQ(Run(call, Phase::kTry, try_body).value(), BarrierResult::kApplied);
  EXPECT_EQ(Run(call, Phase::kCancel, cancel_body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(Run(call, Phase::kCancel, cancel_body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(cancel_body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest,
       HandlerFailureLeavesNoBarrierAndNoBusinessWrite) {
  const BranchCall call = Call("g1", "1");
  absl::StatusOr<BarrierResult> result = store_->Run(
      call, Phase::kTry,
      [](LocalTransaction& txn, std::string* reply) {
        EXPECT_TRUE(txn.Put("frozen", "100").ok());
        *reply = "never seen";
        return absl::AbortedError("insufficient funds");
      },
      nullptr);
  EXPECT_EQ(result.status(), absl::AbortedError("insufficient funds"));
  EXPECT_FALSE(HasBusinessKey("frozen"));

  // No try record was kept: the coordinator's Cancel of the refused Try is
  // empty, so the cancel handler never sees a reservation that was not made.
  CountingBody cancel_body;
  EXPECT_EQ(Run(call, Phase::kCancel, cancel_body).value(),
            BarrierResult::kEmptyCancel);
  EXPECT_EQ(cancel_body.runs, 0);
}

TEST_F(RocksDbBarrierStoreTest, TryRetriedAfterHandlerFailureRunsAgain) {
  const BranchCall call = Call("g1", "1");
  absl::StatusOr<BarrierResult> failed = store_->Run(
      call, Phase::kTry,
      [](LocalTransaction&, std::string*) {
        return absl::UnavailableError("downstream busy");
      },
      nullptr);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);

  CountingBody retry;
  EXPECT_EQ(Run(call, Phase::kTry, retry).value(), BarrierResult::kApplied);
  EXPECT_EQ(retry.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, HandlerExceptionIsInternalAndRollsBack) {
  absl::StatusOr<BarrierResult> result = store_->Run(
      Call("g1", "1"), Phase::kTry,
      [](LocalTransaction& txn, std::string*) -> absl::Status {
        EXPECT_TRUE(txn.Put("half-done", "x").ok());
        throw std::runtime_error("bug in handler");
      },
      nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(result.status().message().find("bug in handler"),
            absl::string_view::npos);
  EXPECT_FALSE(HasBusinessKey("half-done"));
}

TEST_F(RocksDbBarrierStoreTest, RejectsEmptyGidOrBranchId) {
  CountingBody body;
  EXPECT_EQ(Run(Call("", "1"), Phase::kTry, body).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Run(Call("g1", ""), Phase::kTry, body).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body.runs, 0);
}

TEST_F(RocksDbBarrierStoreTest, BranchesWithConcatenationEqualIdsAreDistinct) {
  CountingBody body;
  EXPECT_EQ(Run(Call("ab", "c"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(Run(Call("a", "bc"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(body.runs, 2);
}

TEST_F(RocksDbBarrierStoreTest, BarrierRecordsSurviveReopen) {
  const BranchCall call = Call("g1", "1");
  CountingBody body;
  body.reply = "kept";
  ASSERT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kApplied);
  Open();
  std::string reply;
  EXPECT_EQ(Run(call, Phase::kTry, body, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, "kept");
}

TEST(RocksDbBarrierStoreOpenTest, MissingDatabaseIsFailedPrecondition) {
  testing::ScopedTempDir dir;
  RocksDbBarrierStoreOptions options;
  options.path = dir.Child("absent");
  options.create_if_missing = false;
  EXPECT_EQ(RocksDbBarrierStore::Open(options).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RocksDbBarrierStoreOpenTest, EmptyPathIsInvalidArgument) {
  EXPECT_EQ(RocksDbBarrierStore::Open({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Records which thread reached which sync point, in order.
class SyncPointLog {
 public:
  void Record(const std::string& event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  // Position of `event` in the log, or -1.
  int IndexOf(const std::string& event) {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < events_.size(); ++i) {
      if (events_[i] == event) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

thread_local std::string current_actor = "main";

TEST_F(RocksDbBarrierStoreTest, ConcurrentCancelWaitsForSlowTry) {
  SyncPointLog log;
  absl::Notification try_entered, cancel_locking;
  RocksDbBarrierStoreOptions options;
  options.sync_point = [&](std::string_view point) {
    log.Record(current_actor + ":" + std::string(point));
    if (current_actor == "cancel" && point == kSyncPointBeforeLock) {
      cancel_locking.Notify();
    }
  };
  Open(std::move(options));
  const BranchCall call = Call("g1", "1");

  absl::StatusOr<BarrierResult> try_result;
  std::thread try_thread([&] {
    current_actor = "try";
    try_result = store_->Run(
        call, Phase::kTry,
        [&](LocalTransaction&, std::string*) {
          try_entered.Notify();
          // Hold the branch's locks until the cancel is on its way to them.
          cancel_locking.WaitForNotification();
          log.Record("try:body returns");
          return absl::OkStatus();
        },
        nullptr);
    // Do not leave the cancel thread waiting if the body never ran.
    if (!try_entered.HasBeenNotified()) try_entered.Notify();
  });
  absl::StatusOr<BarrierResult> cancel_result;
  CountingBody cancel_body;
  std::thread cancel_thread([&] {
    current_actor = "cancel";
    try_entered.WaitForNotification();
    cancel_result = Run(call, Phase::kCancel, cancel_body);
  });
  try_thread.join();
  cancel_thread.join();

  EXPECT_EQ(try_result.value(), BarrierResult::kApplied);
  // The cancel saw the committed try: not empty, and its handler ran.
  EXPECT_EQ(cancel_result.value(), BarrierResult::kApplied);
  EXPECT_EQ(cancel_body.runs, 1);
  // The cancel only got the branch's locks once the try had finished with
  // them.
  EXPECT_LT(log.IndexOf("try:body returns"),
            log.IndexOf("cancel:" + std::string(kSyncPointLocked)));
}

TEST_F(RocksDbBarrierStoreTest, LockTimeoutAnswersUnavailable) {
  RocksDbBarrierStoreOptions options;
  options.lock_timeout = absl::Milliseconds(50);
  Open(std::move(options));
  const BranchCall call = Call("g1", "1");

  absl::Notification try_entered, release_try;
  std::thread try_thread([&] {
    absl::StatusOr<BarrierResult> result = store_->Run(
        call, Phase::kTry,
        [&](LocalTransaction&, std::string*) {
          try_entered.Notify();
          release_try.WaitForNotification();
          return absl::OkStatus();
        },
        nullptr);
    EXPECT_EQ(result.value(), BarrierResult::kApplied);
  });
  try_entered.WaitForNotification();
  CountingBody confirm_body;
  absl::StatusOr<BarrierResult> confirm =
      Run(call, Phase::kConfirm, confirm_body);
  release_try.Notify();
  try_thread.join();

  EXPECT_EQ(confirm.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(confirm.status().message().find("branch busy, retry"),
            absl::string_view::npos);
  EXPECT_EQ(confirm_body.runs, 0);
  // Nothing was recorded for the timed-out confirm: a retry applies it.
  EXPECT_EQ(Run(call, Phase::kConfirm, confirm_body).value(),
            BarrierResult::kApplied);
}

TEST_F(RocksDbBarrierStoreTest, PurgeRemovesOnlyOldRecords) {
  CountingBody body;
  ASSERT_EQ(Run(Call("old", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  clock_.Advance(absl::Hours(2));
  const absl::Time cutoff = clock_.Now();
  ASSERT_EQ(Run(Call("new", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);

  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 100).value(), 1);
  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 100).value(), 0);

  body.runs = 0;
  EXPECT_EQ(Run(Call("new", "1"), Phase::kTry, body).value(),
            BarrierResult::kDuplicate);
  // The old record is gone, so the same Try is no longer recognised.
  EXPECT_EQ(Run(Call("old", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, PurgeDeletesInBatchesOldestFirst) {
  CountingBody body;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        Run(Call("g" + std::to_string(i), "1"), Phase::kTry, body).value(),
        BarrierResult::kApplied);
    clock_.Advance(absl::Seconds(1));
  }
  const absl::Time cutoff = clock_.Now();
  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 2).value(), 2);
  // g0 and g1 went first.
  body.runs = 0;
  EXPECT_EQ(Run(Call("g2", "1"), Phase::kTry, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 2).value(), 2);
  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 2).value(), 1);
  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 2).value(), 0);
  EXPECT_EQ(store_->PurgeOlderThan(cutoff, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RocksDbBarrierStoreTest, PurgedCancelNoLongerBlocksTry) {
  // Documents why retention must outlast the coordinator's retries.
  const BranchCall call = Call("g1", "1");
  CountingBody body;
  ASSERT_EQ(Run(call, Phase::kCancel, body).value(),
            BarrierResult::kEmptyCancel);
  clock_.Advance(absl::Hours(1));
  ASSERT_EQ(store_->PurgeOlderThan(clock_.Now(), 10).value(), 1);
  EXPECT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kApplied);
}

}  // namespace
}  // namespace tcc::participant
