// Power loss: whatever the transaction log acknowledged as durable is still
// there after the machine loses power at an arbitrary moment, and the store
// reopens cleanly. The cut is simulated by PowerLossFileSystem, which drops
// every byte not made durable by an fsync.

#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/transaction_log.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "support/power_loss_fs.h"
#include "support/scoped_temp_dir.h"
#include "tcc/common/thread_pool.h"

namespace tcc::coordinator {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using internal::StoredTransaction;
using ::tcc::testing::PowerLossFileSystem;
using ::tcc::testing::PowerLossSummary;
using ::tcc::testing::ScopedTempDir;

constexpr int kSeeds = 40;

// One write in a transaction's life.
struct Step {
  v1::TransactionState state;
  bool sync;
};

// Every write one gid goes through, fixed by the seed and the gid's index so
// that the record expected at each version can be recomputed.
struct Plan {
  std::vector<Step> steps;
  // Bytes of metadata, so that records straddle WAL blocks.
  size_t padding = 0;
};

Plan PlanFor(uint64_t seed, int index) {
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(index));
  Plan plan;
  // As the coordinator writes: the create and the decision are synced before
  // anyone hears of them; progress and the final state are not, because
  // recovery redoes them.
  // Seeds differ in how much of the traffic is unsynced, hence in how often
  // a group without any synced write is in flight at the cut.
  plan.steps = {{v1::TRYING, true}, {v1::CONFIRMING, true}};
  const uint64_t progress_writes = rng() % (1 + seed % 5);
  for (uint64_t i = 0; i < progress_writes; ++i) {
    plan.steps.push_back({v1::CONFIRMING, false});
  }
  plan.steps.push_back({v1::CONFIRMED, false});
  plan.padding = rng() % 3000;
  return plan;
}

std::string Gid(int index) { return absl::StrCat("gid-", index); }

// The record that `plan`'s step `step` writes; it is stored as version
// step + 1.
StoredTransaction RecordAt(int index, const Plan& plan, size_t step) {
  StoredTransaction record;
  v1::Transaction* txn = record.mutable_txn();
  txn->set_gid(Gid(index));
  txn->set_state(plan.steps[step].state);
  txn->set_create_unix_ms(1000 + index);
  txn->set_update_unix_ms(1000 + index + static_cast<int64_t>(step));
  if (IsFinalState(txn->state())) txn->set_finish_unix_ms(5000 + index);
  (*txn->mutable_metadata())["padding"] =
      std::string(plan.padding, static_cast<char>('a' + step));
  return record;
}

// What the writers were told about one gid.
struct Acknowledged {
  // Highest version a write was issued for.
  uint64_t submitted = 0;
  // Highest version acknowledged (callback OK).
  uint64_t acked = 0;
  // Highest version acknowledged by a sync=true write: must survive.
  uint64_t acked_sync = 0;
};

// Keeps `chains` transactions moving through the log at once. Each is a
// sequence of check-and-set writes, the next issued from the previous one's
// callback; a finished transaction is replaced by a new gid. A failed write
// ends its chain (writes fail only after the power cut).
class Workload {
 public:
  Workload(uint64_t seed, TransactionLog* log) : seed_(seed), log_(log) {}

  void Start(int chains) {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < chains; ++i) StartTransaction();
  }

  // Blocks until `n` writes were acknowledged. False if a write failed
  // first.
  bool AwaitAcknowledged(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return acknowledged_ >= n || failed_ > 0;
    };
    mu_.Await(absl::Condition(&reached));
    return failed_ == 0;
  }

  // No write is issued after this returns.
  void Stop() {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }

  // Meaningful once every callback has run.
  std::vector<Plan> plans() const {
    absl::MutexLock lock(&mu_);
    return plans_;
  }
  std::vector<Acknowledged> acknowledged() const {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  int acknowledged_writes() const {
    absl::MutexLock lock(&mu_);
    return acknowledged_;
  }

 private:
  void StartTransaction() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int index = static_cast<int>(plans_.size());
    plans_.push_back(PlanFor(seed_, index));
    acks_.emplace_back();
    Issue(index, 0);
  }

  // Write never blocks, so it is called under mu_: Stop() then guarantees
  // that no write is on its way into the log.
  void Issue(int index, size_t step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const Plan& plan = plans_[index];
    StoredTransaction record = RecordAt(index, plan, step);
    LogWrite write = LogWrite::Of(&record, step, plan.steps[step].sync);
    acks_[index].submitted = step + 1;
    log_->Write(
        std::move(write),
        [this, index, step](absl::Status status, const StoredTransaction*) {
          Done(index, step, status);
        });
  }

  void Done(int index, size_t step, const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      ++failed_;
      return;
    }
    ++acknowledged_;
    const Plan& plan = plans_[index];
    Acknowledged& ack = acks_[index];
    ack.acked = step + 1;
    if (plan.steps[step].sync) ack.acked_sync = step + 1;
    if (stopped_) return;
    if (step + 1 < plan.steps.size()) {
      Issue(index, step + 1);
    } else {
      StartTransaction();
    }
  }

  const uint64_t seed_;
  TransactionLog* const log_;
  mutable absl::Mutex mu_;
  std::vector<Plan> plans_ ABSL_GUARDED_BY(mu_);
  std::vector<Acknowledged> acks_ ABSL_GUARDED_BY(mu_);
  int acknowledged_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

TransactionLogOptions LogOptions(const std::string& path, Executor* executor,
                                 rocksdb::Env* env) {
  TransactionLogOptions options;
  options.path = path;
  options.callback_executor = executor;
  options.env = env;
  return options;
}

StoredTransaction Versioned(StoredTransaction record, uint64_t version) {
  record.set_version(version);
  return record;
}

std::string Describe(const StoredTransaction& record) {
  auto padding = record.txn().metadata().find("padding");
  return absl::StrCat(
      "version ", record.version(), ", ",
      v1::TransactionState_Name(record.txn().state()), ", ",
      padding == record.txn().metadata().end() ? 0 : padding->second.size(),
      " bytes of padding");
}

// Checks the reopened store against what the writers were told. Sets
// *lost_unsynced to the number of gids that lost acknowledged sync=false
// writes (allowed, and evidence that the cut dropped something).
void ExpectAcknowledgedWritesPresent(TransactionLog& log,
                                     const std::vector<Plan>& plans,
                                     const std::vector<Acknowledged>& acks,
                                     int* lost_unsynced) {
  *lost_unsynced = 0;
  int present = 0;
  int final_present = 0;
  std::set<std::string> want_active;
  // Collected rather than reported one by one: a broken log breaks hundreds.
  std::vector<std::string> violations;
  for (int i = 0; i < static_cast<int>(plans.size()); ++i) {
    const Acknowledged& ack = acks[i];
    absl::StatusOr<StoredTransaction> got = log.Get(Gid(i));
    if (!got.ok()) {
      if (got.status().code() != absl::StatusCode::kNotFound) {
        violations.push_back(
            absl::StrCat(Gid(i), ": ", got.status().ToString()));
      } else if (ack.acked_sync > 0) {
        violations.push_back(absl::StrCat(Gid(i), ": gone, but version ",
                                          ack.acked_sync,
                                          " was acknowledged as synced"));
      }
      if (ack.acked > 0) ++*lost_unsynced;
      continue;
    }
    ++present;
    const uint64_t version = got->version();
    if (version < ack.acked_sync) {
      violations.push_back(absl::StrCat(Gid(i), ": at ", Describe(*got),
                                        ", but version ", ack.acked_sync,
                                        " was acknowledged as synced"));
    }
    if (version < 1 || version > ack.submitted) {
      violations.push_back(absl::StrCat(Gid(i), ": at ", Describe(*got),
                                        ", but no write made that version"));
      continue;
    }
    StoredTransaction written =
        Versioned(RecordAt(i, plans[i], version - 1), version);
    if (!MessageDifferencer::Equals(*got, written)) {
      violations.push_back(absl::StrCat(Gid(i), ": at ", Describe(*got),
                                        ", but version ", version, " was ",
                                        Describe(written)));
    }
    if (version < ack.acked) ++*lost_unsynced;
    if (IsFinalState(got->txn().state())) {
      ++final_present;
    } else {
      want_active.insert(Gid(i));
    }
  }
  const size_t total = violations.size();
  if (violations.size() > 10) violations.resize(10);
  EXPECT_EQ(total, 0u) << "gids whose stored record contradicts the "
                          "acknowledgements (first 10):\n"
                       << absl::StrJoin(violations, "\n");

  // Every record parses and none is unaccounted for.
  int listed = 0;
  std::string token;
  do {
    absl::StatusOr<ListPage> page =
        log.List({}, absl::InfiniteFuture(), 1000, token);
    ASSERT_TRUE(page.ok()) << page.status();
    listed += static_cast<int>(page->transactions.size());
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(listed, present);

  // The indexes were written in the same batches as the records, so they
  // agree with them: the active index holds exactly the non-final ones...
  std::set<std::string> active;
  std::string after;
  do {
    std::vector<StoredTransaction> batch;
    std::string next;
    ASSERT_TRUE(log.ScanActive(after, 500, &batch, &next).ok());
    for (const StoredTransaction& t : batch) active.insert(t.txn().gid());
    after = next;
  } while (!after.empty());
  EXPECT_EQ(active, want_active);
  absl::StatusOr<int64_t> active_keys = log.CountActive();
  ASSERT_TRUE(active_keys.ok()) << active_keys.status();
  EXPECT_EQ(*active_keys, static_cast<int64_t>(want_active.size()));
  // ...and the retention index exactly the final ones (checked last: purging
  // deletes them).
  absl::StatusOr<int> purged =
      log.PurgeFinishedBefore(absl::InfiniteFuture(), 1 << 30);
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, final_present);
}

class TransactionLogRandomCutTest : public ::testing::TestWithParam<int> {};

// Writers run concurrently through the log; the power is cut after a
// seed-chosen number of acknowledgements, while writes are in flight. After
// the loss is applied the log must reopen and hold every acknowledged synced
// write, and nothing that was not written.
TEST_P(TransactionLogRandomCutTest,
       AcknowledgedWritesSurvivePowerLossAtRandomCuts) {
  const uint64_t seed = static_cast<uint64_t>(GetParam());
  std::mt19937_64 rng(seed);
  const int chains = 1 + static_cast<int>(rng() % 24);
  const int cut_after = 1 + static_cast<int>(rng() % 1200);
  // 0: the test thread cuts as soon as it sees the acknowledgement. Else the
  // cut falls that many file-system calls later, on the log's own threads:
  // between a WAL append and its fsync, say.
  const int cut_delay = static_cast<int>(rng() % 8);
  ScopedTempDir dir;
  const std::string path = dir.Child("log");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);

  bool cut_while_healthy = false;
  std::vector<Plan> plans;
  std::vector<Acknowledged> acks;
  int acknowledged_writes = 0;
  {
    ThreadPool executor("power-loss", 2);
    absl::StatusOr<std::unique_ptr<TransactionLog>> log =
        TransactionLog::Open(LogOptions(path, &executor, env.get()));
    ASSERT_TRUE(log.ok()) << log.status();
    Workload workload(seed, log->get());
    workload.Start(chains);
    cut_while_healthy = workload.AwaitAcknowledged(cut_after);
    // The workload keeps writing until the cut, so an armed one comes.
    fs->LosePowerAfter(cut_while_healthy ? cut_delay : 0);
    fs->AwaitPowerLoss();
    workload.Stop();
    (*log)->Close();
    executor.Shutdown();  // every callback has run
    plans = workload.plans();
    acks = workload.acknowledged();
    acknowledged_writes = workload.acknowledged_writes();
  }
  ASSERT_TRUE(cut_while_healthy) << "a write failed before the power cut";
  absl::StatusOr<PowerLossSummary> loss = fs->ApplyLoss();
  ASSERT_TRUE(loss.ok()) << loss.status();

  ThreadPool executor("power-loss-reopen", 1);
  absl::StatusOr<std::unique_ptr<TransactionLog>> reopened =
      TransactionLog::Open(LogOptions(path, &executor, nullptr));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  int lost_unsynced = 0;
  ExpectAcknowledgedWritesPresent(**reopened, plans, acks, &lost_unsynced);
  std::printf(
      "seed %d: %d chains, cut %d calls after ack %d: %zu gids, %d writes "
      "acknowledged, %d gids lost unsynced writes, %llu bytes dropped\n",
      GetParam(), chains, cut_delay, cut_after, plans.size(),
      acknowledged_writes, lost_unsynced,
      static_cast<unsigned long long>(loss->bytes_dropped));
}

INSTANTIATE_TEST_SUITE_P(Seeds, TransactionLogRandomCutTest,
                         ::testing::Range(1, kSeeds + 1),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat("Seed", info.param);
                         });

// The random-cut test could pass vacuously if the wrapper lost nothing: an
// acknowledged sync=false write, with no later sync, must be gone.
TEST(TransactionLogPowerLossTest, UnsyncedWriteIsLostOnPowerLoss) {
  ScopedTempDir dir;
  const std::string path = dir.Child("log");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  Plan plan;
  plan.steps = {{v1::TRYING, true}, {v1::CONFIRMED, false}};
  {
    ThreadPool executor("power-loss", 1);
    absl::StatusOr<std::unique_ptr<TransactionLog>> log =
        TransactionLog::Open(LogOptions(path, &executor, env.get()));
    ASSERT_TRUE(log.ok()) << log.status();
    StoredTransaction created = RecordAt(0, plan, 0);
    ASSERT_TRUE(
        (*log)->WriteAndWait(LogWrite::Of(&created, 0, /*sync=*/true)).ok());
    StoredTransaction finished = RecordAt(0, plan, 1);
    ASSERT_TRUE(
        (*log)->WriteAndWait(LogWrite::Of(&finished, 1, /*sync=*/false)).ok());
    absl::StatusOr<StoredTransaction> before = (*log)->Get(Gid(0));
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_EQ(before->version(), 2u);

    fs->LosePower();
    (*log)->Close();
  }
  absl::StatusOr<PowerLossSummary> loss = fs->ApplyLoss();
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_GT(loss->bytes_dropped, 0u);

  ThreadPool executor("power-loss-reopen", 1);
  absl::StatusOr<std::unique_ptr<TransactionLog>> reopened =
      TransactionLog::Open(LogOptions(path, &executor, nullptr));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::StatusOr<StoredTransaction> after = (*reopened)->Get(Gid(0));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(
      MessageDifferencer::Equals(*after, Versioned(RecordAt(0, plan, 0), 1)))
      << after->DebugString();
}

// The wrapper itself: synced prefixes survive, unsynced tails and never-synced
// new files do not, and nothing reaches the disk after the cut.
TEST(PowerLossFileSystemTest, KeepsOnlyWhatWasSyncedBeforeTheCut) {
  ScopedTempDir dir;
  PowerLossFileSystem fs;
  const rocksdb::IOOptions io;
  const rocksdb::FileOptions options;
  const std::string kept = dir.Child("kept");
  const std::string renamed = dir.Child("renamed");
  const std::string never_synced = dir.Child("never-synced");

  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(fs.NewWritableFile(kept, options, &file, nullptr).ok());
  ASSERT_TRUE(file->Append("synced", io, nullptr).ok());
  ASSERT_TRUE(file->Sync(io, nullptr).ok());
  ASSERT_TRUE(file->Append("+tail", io, nullptr).ok());
  // Renaming carries the durable size along.
  ASSERT_TRUE(fs.RenameFile(kept, renamed, io, nullptr).ok());
  ASSERT_TRUE(file->Append("+more", io, nullptr).ok());

  std::unique_ptr<rocksdb::FSWritableFile> other;
  ASSERT_TRUE(fs.NewWritableFile(never_synced, options, &other, nullptr).ok());
  ASSERT_TRUE(other->Append("gone", io, nullptr).ok());
  ASSERT_TRUE(other->Close(io, nullptr).ok());

  fs.LosePower();
  EXPECT_TRUE(file->Append("late", io, nullptr).IsIOError());
  EXPECT_TRUE(file->Sync(io, nullptr).IsIOError());
  std::unique_ptr<rocksdb::FSWritableFile> late;
  EXPECT_TRUE(fs.NewWritableFile(dir.Child("late"), options, &late, nullptr)
                  .IsIOError());
  EXPECT_TRUE(fs.DeleteFile(renamed, io, nullptr).IsIOError());
  EXPECT_TRUE(file->Close(io, nullptr).IsIOError());
  file.reset();

  absl::StatusOr<PowerLossSummary> loss = fs.ApplyLoss();
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_EQ(loss->files_truncated, 1);
  EXPECT_EQ(loss->files_deleted, 1);
  EXPECT_EQ(loss->bytes_dropped, std::string("+tail+more").size() + 4);

  rocksdb::FileSystem* disk = rocksdb::FileSystem::Default().get();
  std::string contents;
  ASSERT_TRUE(rocksdb::ReadFileToString(disk, renamed, &contents).ok());
  EXPECT_EQ(contents, "synced");
  EXPECT_TRUE(disk->FileExists(never_synced, io, nullptr).IsNotFound());
  EXPECT_TRUE(disk->FileExists(kept, io, nullptr).IsNotFound());
  EXPECT_TRUE(disk->FileExists(dir.Child("late"), io, nullptr).IsNotFound());
}

// Open() moves a log's gid-ordered active index ("a/<gid>") to the
// creation-ordered one in synced batches, each transaction in one write: a
// power cut anywhere leaves every transaction in one index or the other, and
// the next Open() finishes. Cut after every second mutating file-system call
// until Open() finishes before the cut.
TEST(TransactionLogPowerLossTest,
     ActiveIndexConversionFinishesAfterACutAnywhere) {
  // More than two conversion batches (1000 each).
  constexpr int kTransactions = 2100;
  int cuts = 0;
  int cuts_inside_conversion = 0;
  bool finished_before_cut = false;
  for (int cut = 0; cut < 2000 && !finished_before_cut; cut += 2, ++cuts) {
    SCOPED_TRACE(absl::StrCat("cut after ", cut, " mutations"));
    ScopedTempDir dir;
    const std::string path = dir.Child("log");
    {
      rocksdb::Options options;
      options.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      ASSERT_TRUE(rocksdb::DB::Open(options, path, &raw).ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      for (int i = 0; i < kTransactions; ++i) {
        const std::string gid = absl::StrCat("g", i);
        StoredTransaction record;
        record.set_version(1);
        record.mutable_txn()->set_gid(gid);
        record.mutable_txn()->set_mode(v1::MODE_EXECUTE);
        record.mutable_txn()->set_state(v1::CONFIRMING);
        record.mutable_txn()->set_create_unix_ms(1000000 - i);
        ASSERT_TRUE(
            db->Put({}, TransactionKey(gid), record.SerializeAsString()).ok());
        ASSERT_TRUE(db->Put({}, "a/" + gid, "").ok());
      }
    }
    auto fs = std::make_shared<PowerLossFileSystem>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    fs->LosePowerAfter(cut);
    {
      ThreadPool executor("power-loss", 1);
      // Fails once the cut has happened; the outcome is checked below.
      absl::StatusOr<std::unique_ptr<TransactionLog>> log =
          TransactionLog::Open(LogOptions(path, &executor, env.get()));
      if (log.ok()) (*log)->Close();
    }
    finished_before_cut = !fs->power_lost();
    ASSERT_TRUE(fs->ApplyLoss().ok());
    {
      // What the cut left: some transactions moved, some not.
      rocksdb::DB* raw = nullptr;
      ASSERT_TRUE(rocksdb::DB::Open({}, path, &raw).ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
      it->Seek("a/");
      const bool old_left = it->Valid() && it->key().starts_with("a/");
      it->Seek("i/");
      const bool new_written = it->Valid() && it->key().starts_with("i/");
      if (old_left && new_written) ++cuts_inside_conversion;
    }

    ThreadPool executor("power-loss-reopen", 1);
    absl::StatusOr<std::unique_ptr<TransactionLog>> log =
        TransactionLog::Open(LogOptions(path, &executor, nullptr));
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<StoredTransaction> active;
    std::string after;
    do {
      std::string next;
      ASSERT_TRUE((*log)->ScanActive(after, 1000, &active, &next).ok());
      after = next;
    } while (!after.empty());
    ASSERT_EQ(active.size(), static_cast<size_t>(kTransactions));
    // Once each, oldest first.
    for (int i = 0; i < kTransactions; ++i) {
      ASSERT_EQ(active[i].txn().gid(),
                absl::StrCat("g", kTransactions - 1 - i));
    }
    (*log)->Close();
  }
  std::printf("%d cuts, %d of them inside the conversion\n", cuts,
              cuts_inside_conversion);
  EXPECT_TRUE(finished_before_cut);
  EXPECT_GT(cuts_inside_conversion, 0);
}

}  // namespace
}  // namespace tcc::coordinator
