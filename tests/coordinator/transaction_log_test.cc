#include "coordinator/transaction_log.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "support/scoped_temp_dir.h"
#include "tcc/common/thread_pool.h"

namespace tcc::coordinator {
namespace {

using internal::StoredTransaction;

StoredTransaction Record(const std::string& gid, v1::TransactionState state,
                         int64_t create_ms = 1000, int64_t finish_ms = 0) {
  StoredTransaction r;
  r.mutable_txn()->set_mode(v1::MODE_EXECUTE);
  r.mutable_txn()->set_gid(gid);
  r.mutable_txn()->set_state(state);
  r.mutable_txn()->set_create_unix_ms(create_ms);
  r.mutable_txn()->set_finish_unix_ms(finish_ms);
  return r;
}

class TransactionLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    TransactionLogOptions options;
    options.path = dir_.Child("log");
    options.callback_executor = &executor_;
    auto log = TransactionLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }
  // Every active transaction, page by page; sets *pages if given.
  std::vector<StoredTransaction> ScanAllActive(int page_size,
                                               int* pages = nullptr) {
    std::vector<StoredTransaction> all;
    std::string after;
    int n = 0;
    do {
      std::string next;
      absl::Status s = log_->ScanActive(after, page_size, &all, &next);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) break;
      after = next;
      ++n;
    } while (!after.empty());
    if (pages != nullptr) *pages = n;
    return all;
  }
  absl::Status Write(StoredTransaction record, uint64_t expected) {
    return log_->WriteAndWait(LogWrite::Of(&record, expected, /*sync=*/true));
  }

  testing::ScopedTempDir dir_;
  ThreadPool executor_{"log-test", 2};
  std::unique_ptr<TransactionLog> log_;
};

TEST_F(TransactionLogTest, CreateIsRefusedWhenGidExists) {
  ASSERT_TRUE(Write(Record("g1", v1::TRYING), 0).ok());
  absl::Status s = Write(Record("g1", v1::TRYING), 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(TransactionLogTest, UpdateIsCheckedAgainstStoredVersion) {
  ASSERT_TRUE(Write(Record("g1", v1::TRYING), 0).ok());
  ASSERT_TRUE(Write(Record("g1", v1::CONFIRMING), 1).ok());
  // A second writer that still believes version 1 loses.
  absl::Status s = Write(Record("g1", v1::CANCELLING), 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  auto stored = log_->Get("g1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->txn().state(), v1::CONFIRMING);
  EXPECT_EQ(stored->version(), 2u);
}

TEST_F(TransactionLogTest, ConcurrentWritersToOneGidOnlyOneWins) {
  ASSERT_TRUE(Write(Record("g1", v1::TRYING), 0).ok());
  absl::Mutex mu;
  int ok = 0, refused = 0, done = 0;
  for (int i = 0; i < 50; ++i) {
    StoredTransaction record =
        Record("g1", i % 2 ? v1::CONFIRMING : v1::CANCELLING);
    log_->Write(LogWrite::Of(&record, 1, /*sync=*/true),
                [&](absl::Status s, const StoredTransaction*) {
                  absl::MutexLock lock(&mu);
                  (s.ok() ? ok : refused)++;
                  ++done;
                });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* d) { return *d == 50; }, &done));
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(refused, 49);
}

// Two creates of one gid, queued back to back (usually in one group): one
// wins, and the other is refused with the winner's record as stored.
TEST_F(TransactionLogTest, RefusedCreateSeesTheRecordThatWon) {
  absl::Mutex mu;
  int done = 0;
  std::vector<absl::Status> results(2);
  std::vector<std::string> seen_reasons(2);
  std::vector<uint64_t> seen_versions(2);
  for (int i = 0; i < 2; ++i) {
    StoredTransaction record = Record("g1", v1::TRYING);
    record.mutable_txn()->set_reason(i == 0 ? "first" : "second");
    log_->Write(LogWrite::Of(&record, 0, /*sync=*/true),
                [&, i](absl::Status s, const StoredTransaction* current) {
                  absl::MutexLock lock(&mu);
                  if (current != nullptr) {
                    seen_reasons[i] = current->txn().reason();
                    seen_versions[i] = current->version();
                  }
                  results[i] = std::move(s);
                  ++done;
                });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* d) { return *d == 2; }, &done));
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_EQ(results[1].code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(seen_reasons[1], "first");
  EXPECT_EQ(seen_versions[1], 1u);
  auto stored = log_->Get("g1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->txn().reason(), "first");
}

TEST_F(TransactionLogTest, WritesSurviveReopen) {
  ASSERT_TRUE(Write(Record("g1", v1::TRYING), 0).ok());
  ASSERT_TRUE(Write(Record("g1", v1::CONFIRMING), 1).ok());
  log_->Close();
  log_.reset();
  Open();
  auto stored = log_->Get("g1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->txn().state(), v1::CONFIRMING);
}

TEST_F(TransactionLogTest, ScanActiveSkipsFinalTransactionsAndPages) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Write(Record("g" + std::to_string(i), v1::TRYING), 0).ok());
  }
  ASSERT_TRUE(Write(Record("g3", v1::CONFIRMED, 1000, 5000), 1).ok());
  int pages = 0;
  std::vector<StoredTransaction> all = ScanAllActive(4, &pages);
  EXPECT_EQ(all.size(), 9u);
  EXPECT_GE(pages, 3);
  for (const auto& r : all) EXPECT_NE(r.txn().gid(), "g3");
  EXPECT_EQ(*log_->CountActive(), 9);
}

TEST_F(TransactionLogTest, ScanActiveAndListActiveGoOldestFirst) {
  // Creation order differs from gid order.
  ASSERT_TRUE(Write(Record("c", v1::TRYING, 1000), 0).ok());
  ASSERT_TRUE(Write(Record("a", v1::TRYING, 3000), 0).ok());
  ASSERT_TRUE(Write(Record("b", v1::TRYING, 2000), 0).ok());
  ASSERT_TRUE(Write(Record("d", v1::TRYING, 2000), 0).ok());
  std::vector<std::string> gids;
  for (const auto& r : ScanAllActive(3)) gids.push_back(r.txn().gid());
  EXPECT_EQ(gids, (std::vector<std::string>{"c", "b", "d", "a"}));

  gids.clear();
  std::string token;
  do {
    auto page = log_->List({v1::TRYING}, absl::InfiniteFuture(), 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& r : page->transactions) gids.push_back(r.txn().gid());
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(gids, (std::vector<std::string>{"c", "b", "d", "a"}));
}

TEST_F(TransactionLogTest, GidOrderedActiveIndexIsConvertedAtOpen) {
  // A log as written before the active index was ordered by creation time:
  // "a/<gid>" keys, one of them without its record.
  log_->Close();
  log_.reset();
  {
    rocksdb::Options options;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_.Child("log"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (int i = 0; i < 2500; ++i) {
      const std::string gid = "g" + std::to_string(i);
      StoredTransaction record = Record(gid, v1::TRYING, 100000 - i);
      record.set_version(1);
      ASSERT_TRUE(
          db->Put({}, TransactionKey(gid), record.SerializeAsString()).ok());
      ASSERT_TRUE(db->Put({}, "a/" + gid, "").ok());
    }
    ASSERT_TRUE(db->Put({}, "a/orphan", "").ok());
  }
  Open();
  EXPECT_EQ(*log_->CountActive(), 2500);
  std::vector<StoredTransaction> all = ScanAllActive(1000);
  ASSERT_EQ(all.size(), 2500u);
  // Oldest first: g2499 was created first.
  EXPECT_EQ(all.front().txn().gid(), "g2499");
  EXPECT_EQ(all.back().txn().gid(), "g0");
  // The converted index is the one writes maintain: finishing a
  // transaction removes it.
  StoredTransaction done = Record("g0", v1::CONFIRMED, 100000, 200000);
  ASSERT_TRUE(Write(done, 1).ok());
  EXPECT_EQ(*log_->CountActive(), 2499);
  log_->Close();
  log_.reset();
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open({}, dir_.Child("log"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
    it->Seek("a/");
    EXPECT_FALSE(it->Valid() && it->key().starts_with("a/"));
  }
  Open();
  EXPECT_EQ(*log_->CountActive(), 2499);
}

TEST_F(TransactionLogTest, ListFiltersByStateAndAgeInPages) {
  ASSERT_TRUE(Write(Record("old-trying", v1::TRYING, 1000), 0).ok());
  ASSERT_TRUE(Write(Record("new-trying", v1::TRYING, 9000), 0).ok());
  ASSERT_TRUE(Write(Record("old-done", v1::TRYING, 1000), 0).ok());
  ASSERT_TRUE(Write(Record("old-done", v1::CANCELLED, 1000, 2000), 1).ok());

  auto stuck = log_->List({v1::TRYING, v1::CONFIRMING, v1::CANCELLING},
                          absl::FromUnixMillis(5000), 10, "");
  ASSERT_TRUE(stuck.ok());
  ASSERT_EQ(stuck->transactions.size(), 1u);
  EXPECT_EQ(stuck->transactions[0].txn().gid(), "old-trying");

  auto first = log_->List({}, absl::FromUnixMillis(10000), 2, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->transactions.size(), 2u);
  ASSERT_FALSE(first->next_page_token.empty());
  auto second =
      log_->List({}, absl::FromUnixMillis(10000), 2, first->next_page_token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->transactions.size(), 1u);
  EXPECT_TRUE(second->next_page_token.empty());
}

TEST_F(TransactionLogTest, PurgeRemovesOnlyFinalTransactionsPastRetention) {
  ASSERT_TRUE(Write(Record("active", v1::TRYING, 1000), 0).ok());
  ASSERT_TRUE(Write(Record("old", v1::TRYING, 1000), 0).ok());
  ASSERT_TRUE(Write(Record("old", v1::CONFIRMED, 1000, 2000), 1).ok());
  ASSERT_TRUE(Write(Record("recent", v1::TRYING, 1000), 0).ok());
  ASSERT_TRUE(Write(Record("recent", v1::CANCELLED, 1000, 9000), 1).ok());

  auto n = log_->PurgeFinishedBefore(absl::FromUnixMillis(5000), 100);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(log_->Get("old").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(log_->Get("recent").ok());
  EXPECT_TRUE(log_->Get("active").ok());
  EXPECT_EQ(*log_->PurgeFinishedBefore(absl::FromUnixMillis(5000), 100), 0);
}

TEST_F(TransactionLogTest, WriteAfterCloseFailsWithUnavailable) {
  log_->Close();
  absl::Status s = Write(Record("g1", v1::TRYING), 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tcc::coordinator
