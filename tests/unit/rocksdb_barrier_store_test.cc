// RocksDB-specific behaviour of RocksDbBarrierStore: opening, lock timeouts,
// the on-disk formats and expiry. The barrier rules themselves are tested
// against every store in barrier_semantics_test.

#include "tcc/participant/rocksdb_barrier_store.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "raw_barrier_family.h"
#include "rocksdb/db.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/slice_transform.h"
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

  // Applies a Try without waiting for the disk (RunDeferred).
  absl::StatusOr<BarrierResult> TryDeferred(const std::string& gid,
                                            const std::string& branch_id,
                                            CountingBody& body) {
    return store_->RunDeferred(
        Call(gid, branch_id), Phase::kTry,
        [&](LocalTransaction& txn, std::string* out) { return body(txn, out); },
        nullptr);
  }

  testing::ScopedTempDir dir_;
  ManualClock clock_;
  std::unique_ptr<RocksDbBarrierStore> store_;
};

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

// With no sync running and nobody waiting, the caller of AfterSync() syncs
// and answers itself: no hand-off to the sync thread.
TEST_F(RocksDbBarrierStoreTest, AfterSyncOnAnIdleStoreAnswersOnTheCaller) {
  CountingBody body;
  ASSERT_EQ(TryDeferred("g1", "1", body).value(), BarrierResult::kApplied);
  bool answered = false;
  std::thread::id answered_on;
  store_->AfterSync([&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    answered = true;
    answered_on = std::this_thread::get_id();
  });
  EXPECT_TRUE(answered);
  EXPECT_EQ(answered_on, std::this_thread::get_id());
}

// A caller that must not block (other calls wait for its thread) queues for
// the sync thread even on an idle store, and returns before the answer.
TEST_F(RocksDbBarrierStoreTest,
       AfterSyncWithoutCallerMaySyncUsesTheSyncThread) {
  CountingBody body;
  ASSERT_EQ(TryDeferred("g1", "1", body).value(), BarrierResult::kApplied);
  absl::Notification answered;
  std::thread::id answered_on;
  store_->AfterSync(
      [&](absl::Status status) {
        EXPECT_TRUE(status.ok()) << status;
        answered_on = std::this_thread::get_id();
        answered.Notify();
      },
      /*caller_may_sync=*/false);
  answered.WaitForNotification();
  EXPECT_NE(answered_on, std::this_thread::get_id());
  EXPECT_EQ(store_->RecordedPhases("g1", "1").value(),
            (std::vector<Phase>{Phase::kTry}));
}

// While a sync runs, later callers queue and the sync thread answers them
// with the next sync, in the order they came, without blocking them.
TEST_F(RocksDbBarrierStoreTest, AfterSyncWhileASyncRunsQueuesForTheSyncThread) {
  CountingBody body;
  ASSERT_EQ(TryDeferred("g1", "1", body).value(), BarrierResult::kApplied);
  // The first caller syncs itself; its answer waits here, so that its sync
  // is still "running" for everyone else.
  absl::Notification first_answering, release_first;
  std::thread first([&] {
    store_->AfterSync([&](absl::Status status) {
      EXPECT_TRUE(status.ok()) << status;
      first_answering.Notify();
      release_first.WaitForNotification();
    });
  });
  first_answering.WaitForNotification();

  ASSERT_EQ(TryDeferred("g1", "2", body).value(), BarrierResult::kApplied);
  absl::Mutex mu;
  std::vector<int> answered;
  std::vector<std::thread::id> answered_on;
  absl::Notification both_answered;
  for (int i : {2, 3}) {
    store_->AfterSync([&, i](absl::Status status) {
      EXPECT_TRUE(status.ok()) << status;
      absl::MutexLock lock(&mu);
      answered.push_back(i);
      answered_on.push_back(std::this_thread::get_id());
      if (answered.size() == 2) both_answered.Notify();
    });
  }
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(answered.empty()) << "a queued caller was answered at once";
  }
  release_first.Notify();
  first.join();
  both_answered.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(answered, (std::vector<int>{2, 3}));
  for (std::thread::id id : answered_on) {
    EXPECT_NE(id, std::this_thread::get_id());
  }
  // Branch 2's record is readable after its answer (and was synced with it).
  EXPECT_EQ(store_->RecordedPhases("g1", "2").value(),
            (std::vector<Phase>{Phase::kTry}));
}

// A deferred caller (a Confirm's outcome) does not start a sync: it rides
// the next one another caller needs, on that caller's thread.
TEST_F(RocksDbBarrierStoreTest, DeferredAfterSyncRidesTheNextSync) {
  CountingBody body;
  ASSERT_EQ(TryDeferred("g1", "1", body).value(), BarrierResult::kApplied);
  absl::Notification deferred_answered;
  std::thread::id answered_on;
  store_->AfterSyncDeferred([&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    answered_on = std::this_thread::get_id();
    deferred_answered.Notify();
  });
  EXPECT_FALSE(deferred_answered.HasBeenNotified());

  ASSERT_EQ(TryDeferred("g1", "2", body).value(), BarrierResult::kApplied);
  bool answered = false;
  store_->AfterSync([&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    answered = true;
  });
  EXPECT_TRUE(answered);
  EXPECT_TRUE(deferred_answered.HasBeenNotified());
  EXPECT_EQ(answered_on, std::this_thread::get_id());
}

// Alone, a deferred caller is synced for by the sync thread once its delay
// has passed on the store's clock.
TEST_F(RocksDbBarrierStoreTest, DeferredAfterSyncAloneIsSyncedAfterItsDelay) {
  RocksDbBarrierStoreOptions options;
  options.deferred_sync_delay = absl::Milliseconds(2);
  Open(std::move(options));
  CountingBody body;
  ASSERT_EQ(TryDeferred("g1", "1", body).value(), BarrierResult::kApplied);
  absl::Notification answered;
  std::thread::id answered_on;
  store_->AfterSyncDeferred([&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    answered_on = std::this_thread::get_id();
    answered.Notify();
  });
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(answered.HasBeenNotified());
  clock_.Advance(absl::Milliseconds(1));
  answered.WaitForNotification();
  EXPECT_NE(answered_on, std::this_thread::get_id());
}

// With no delay a deferred caller is an ordinary queued one.
TEST_F(RocksDbBarrierStoreTest, DeferredAfterSyncWithoutDelayIsNotDeferred) {
  RocksDbBarrierStoreOptions options;
  options.deferred_sync_delay = absl::ZeroDuration();
  Open(std::move(options));
  CountingBody body;
  ASSERT_EQ(TryDeferred("g1", "1", body).value(), BarrierResult::kApplied);
  absl::Notification answered;
  store_->AfterSyncDeferred([&](absl::Status) { answered.Notify(); });
  answered.WaitForNotification();  // no time moved
}

RocksDbBarrierStoreOptions Retention(absl::Duration retention) {
  RocksDbBarrierStoreOptions options;
  options.retention = retention;
  return options;
}

TEST_F(RocksDbBarrierStoreTest, CompactionDropsOnlyExpiredRecords) {
  Open(Retention(absl::Hours(1)));
  CountingBody body;
  ASSERT_EQ(Run(Call("old", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  clock_.Advance(absl::Hours(2));
  ASSERT_EQ(Run(Call("new", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);

  ASSERT_TRUE(store_->ExpireNow().ok());
  body.runs = 0;
  EXPECT_EQ(Run(Call("new", "1"), Phase::kTry, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(body.runs, 0);
  // The old record is gone, so the same Try is no longer recognised.
  EXPECT_TRUE(store_->RecordedPhases("old", "1").value().empty());
  EXPECT_EQ(Run(Call("old", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, ABranchExpiresAtItsLastWrite) {
  Open(Retention(absl::Hours(1)));
  const BranchCall call = Call("g1", "1");
  CountingBody body;
  ASSERT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kApplied);
  // Compacted while young: in the last level from here on.
  ASSERT_TRUE(store_->ExpireNow().ok());
  clock_.Advance(absl::Minutes(50));
  ASSERT_EQ(Run(call, Phase::kConfirm, body).value(), BarrierResult::kApplied);
  clock_.Advance(absl::Minutes(20));

  // The Try is 70 minutes old, the record's last write 20.
  ASSERT_TRUE(store_->ExpireNow().ok());
  body.runs = 0;
  EXPECT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kDuplicate);
  EXPECT_EQ(Run(call, Phase::kConfirm, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(body.runs, 0);
  // Once the last write expires, the branch is gone, after a reopen too.
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(store_->ExpireNow().ok());
  EXPECT_TRUE(store_->RecordedPhases("g1", "1").value().empty());
  Open(Retention(absl::Hours(1)));
  EXPECT_TRUE(store_->RecordedPhases("g1", "1").value().empty());
}

TEST_F(RocksDbBarrierStoreTest, ExpiryCoversEveryLevelAndReplayedRecords) {
  // Records compacted once already (the last level), records in a table
  // file of their own, records replayed from the log after a reopen and
  // records still in the memtable: only the older half goes.
  RocksDbBarrierStoreOptions options = Retention(absl::Seconds(3));
  Open(options);
  CountingBody body;
  constexpr int kBranches = 600;
  for (int i = 0; i < kBranches; ++i) {
    if (i == 200) {
      ASSERT_TRUE(store_->ExpireNow().ok());
    }
    if (i == 400) Open(options);
    const BranchCall call = Call("g" + std::to_string(i), "1");
    ASSERT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kApplied);
    ASSERT_EQ(Run(call, Phase::kConfirm, body).value(),
              BarrierResult::kApplied);
    clock_.Advance(absl::Milliseconds(10));
  }
  // Now is 6 s after g0, so g0 to g299 are over 3 s old.
  ASSERT_TRUE(store_->ExpireNow().ok());
  store_.reset();
  {
    // One record per branch, whatever its phases, and nothing else.
    testing::RawBarrierFamily raw(dir_.Child("db"));
    EXPECT_EQ(raw.Count('b'), kBranches / 2);
    EXPECT_EQ(raw.Count('w'), 0);
    EXPECT_EQ(raw.Count('v'), 1);
  }
  Open(options);
  body.runs = 0;
  EXPECT_EQ(Run(Call("g299", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(Run(Call("g300", "1"), Phase::kTry, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(Run(Call("g599", "1"), Phase::kConfirm, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, InfiniteRetentionKeepsEveryRecord) {
  Open(Retention(absl::InfiniteDuration()));
  CountingBody body;
  ASSERT_EQ(Run(Call("g1", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
  clock_.Advance(absl::Hours(24 * 3650));
  ASSERT_TRUE(store_->ExpireNow().ok());
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kTry, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, AnExpiredCancelNoLongerBlocksTry) {
  // Documents why retention must outlast the coordinator's retries.
  Open(Retention(absl::Hours(1)));
  const BranchCall call = Call("g1", "1");
  CountingBody body;
  ASSERT_EQ(Run(call, Phase::kCancel, body).value(),
            BarrierResult::kEmptyCancel);
  clock_.Advance(absl::Minutes(59));
  ASSERT_TRUE(store_->ExpireNow().ok());
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kTry, body).value(),
            BarrierResult::kRefusedAfterCancel);
  clock_.Advance(absl::Minutes(2));
  ASSERT_TRUE(store_->ExpireNow().ok());
  EXPECT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kApplied);
}

TEST_F(RocksDbBarrierStoreTest, BusinessOptionsApplyToTheDefaultColumnFamily) {
  // A service that only reads and writes single keys may hash its memtable.
  auto hashed = [] {
    RocksDbBarrierStoreOptions options;
    options.business_options.prefix_extractor.reset(
        rocksdb::NewNoopTransform());
    options.business_options.memtable_factory.reset(
        rocksdb::NewHashLinkListRepFactory());
    return options;
  };
  Open(hashed());
  rocksdb::TransactionDB* db = store_->db();
  EXPECT_STREQ(
      db->GetOptions(db->DefaultColumnFamily()).memtable_factory->Name(),
      "HashLinkListRepFactory");
  const BranchCall call = Call("g1", "1");
  CountingBody body;
  body.business_key = "stock/1";
  ASSERT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kApplied);

  // Both the business write and the barrier record survive a flush and a
  // reopen with the same options.
  ASSERT_TRUE(
      db->Flush(rocksdb::FlushOptions(), db->DefaultColumnFamily()).ok());
  Open(hashed());
  std::string value;
  ASSERT_TRUE(
      store_->db()->Get(rocksdb::ReadOptions(), "stock/1", &value).ok());
  EXPECT_EQ(value, "written");
  EXPECT_EQ(Run(call, Phase::kTry, body).value(), BarrierResult::kDuplicate);
  EXPECT_EQ(body.runs, 1);
}

TEST_F(RocksDbBarrierStoreTest, FormatOneRecordsAreMigratedAtOpen) {
  // The database SetUp() created already has the current format.
  store_.reset();
  ASSERT_TRUE(rocksdb::DestroyDB(dir_.Child("db"), {}).ok());
  // More branches than one migration batch (1000), so that the migration
  // writes several.
  constexpr int kBulk = 2500;
  {
    testing::RawBarrierFamily old(dir_.Child("db"));
    old.Record("g1", "1", 'T', 1000, "held");
    old.Record("g1", "1", 'C', 1001);
    old.Record("g2", "1", 'X', 1002);
    old.Record("g3", "1", 'T', 1003, "r3");
    for (int i = 0; i < kBulk; ++i) {
      old.Record("bulk" + std::to_string(i), "1", 'T', 5000 + i);
    }
  }
  Open();
  store_.reset();
  {
    // Each branch is one record; the old ones and their index keys are gone.
    testing::RawBarrierFamily migrated(dir_.Child("db"));
    EXPECT_EQ(migrated.Count('r'), 0);
    EXPECT_EQ(migrated.Count('b'), kBulk + 3);
    EXPECT_EQ(migrated.Count('w'), 0);
    EXPECT_EQ(migrated.Count('v'), 1);
  }
  Open();

  CountingBody body;
  std::string reply;
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kTry, body, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, "held");
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kConfirm, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kCancel, body).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Run(Call("g2", "1"), Phase::kTry, body).value(),
            BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(body.runs, 0);
  EXPECT_EQ(Run(Call("g3", "1"), Phase::kConfirm, body).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(Run(Call("bulk2499", "1"), Phase::kTry, body, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(body.runs, 1);
  EXPECT_EQ(store_->RecordedPhases("g1", "1").value(),
            (std::vector<Phase>{Phase::kTry, Phase::kConfirm}));

  // A record keeps its last write time: all but g3, written again just
  // now, are decades older than the default retention.
  ASSERT_TRUE(store_->ExpireNow().ok());
  EXPECT_TRUE(store_->RecordedPhases("g1", "1").value().empty());
  EXPECT_EQ(store_->RecordedPhases("g3", "1").value(),
            (std::vector<Phase>{Phase::kTry, Phase::kConfirm}));
  // A reopen finds nothing to migrate.
  Open();
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kTry, body).value(),
            BarrierResult::kApplied);
}

TEST_F(RocksDbBarrierStoreTest, FormatTwoIsReadAsItIsAndLosesItsIndexKeys) {
  store_.reset();
  ASSERT_TRUE(rocksdb::DestroyDB(dir_.Child("db"), {}).ok());
  const int64_t now = absl::ToUnixSeconds(clock_.Now());
  {
    testing::RawBarrierFamily old(dir_.Child("db"));
    old.Put("v", testing::BigEndian(2, 4));
    old.Branch("g1", "1", 1 | 2, now - 60, "held");
    old.Branch("g2", "1", 4, now - 30);
    old.Branch("g3", "1", 1, now - 8 * 24 * 3600);  // Past the retention.
  }
  Open();
  CountingBody body;
  std::string reply;
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kTry, body, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, "held");
  EXPECT_EQ(Run(Call("g1", "1"), Phase::kConfirm, body).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(Run(Call("g2", "1"), Phase::kTry, body).value(),
            BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(body.runs, 0);
  ASSERT_TRUE(store_->ExpireNow().ok());
  EXPECT_TRUE(store_->RecordedPhases("g3", "1").value().empty());
  store_.reset();
  {
    testing::RawBarrierFamily upgraded(dir_.Child("db"));
    EXPECT_EQ(upgraded.Count('b'), 2);
    EXPECT_EQ(upgraded.Count('w'), 0);
    // A format 2 SDK refuses the store rather than miss index keys.
    EXPECT_EQ(upgraded.Get("v"), testing::BigEndian(3, 4));
  }
  Open();
  EXPECT_EQ(store_->RecordedPhases("g1", "1").value(),
            (std::vector<Phase>{Phase::kTry, Phase::kConfirm}));
}

TEST_F(RocksDbBarrierStoreTest, ANewerFormatIsRefused) {
  store_.reset();
  ASSERT_TRUE(rocksdb::DestroyDB(dir_.Child("db"), {}).ok());
  {
    testing::RawBarrierFamily db(dir_.Child("db"));
    db.Put("v", testing::BigEndian(4, 4));
  }
  RocksDbBarrierStoreOptions options;
  options.path = dir_.Child("db");
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
      RocksDbBarrierStore::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("format 4"), std::string::npos)
      << store.status();
}

}  // namespace
}  // namespace tcc::participant
