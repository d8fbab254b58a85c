// kill -9 against the barrier store's group commit, with the WAL written
// at each commit and buffered until each group sync
// (RocksDbBarrierStoreOptions::buffer_wal_until_sync): a real child process
// (wal_crash_child) runs Tries until it is killed; every Try it
// acknowledged must be in the store afterwards, with its business key.

#include <sys/wait.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"
#include "support/subprocess.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::participant {
namespace {

using ::tcc::testing::ScopedTempDir;
using ::tcc::testing::Subprocess;
using ::tcc::testing::WaitFor;

// The numbers on the complete lines of `path`.
std::vector<int> ReadAcks(const std::string& path) {
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  std::vector<int> acks;
  size_t start = 0;
  for (size_t end; (end = content.find('\n', start)) != std::string::npos;
       start = end + 1) {
    int n = 0;
    if (absl::SimpleAtoi(content.substr(start, end - start), &n)) {
      acks.push_back(n);
    }
  }
  return acks;
}

absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> Reopen(
    const std::string& path) {
  RocksDbBarrierStoreOptions options;
  options.path = path;
  return RocksDbBarrierStore::Open(std::move(options));
}

// Whether Try `n` of round `prefix` is in the store, record and business
// key alike (the test fails if only one of them is).
bool Tried(RocksDbBarrierStore& store, const std::string& prefix, int n) {
  const std::string gid = absl::StrCat(prefix, "-", n);
  absl::StatusOr<std::vector<Phase>> phases = store.RecordedPhases(gid, "1");
  EXPECT_TRUE(phases.ok()) << phases.status();
  std::string value;
  const bool business =
      store.db()
          ->Get(rocksdb::ReadOptions(), absl::StrCat("biz/", gid), &value)
          .ok();
  const bool recorded =
      phases.ok() && *phases == std::vector<Phase>{Phase::kTry};
  EXPECT_EQ(business, recorded) << gid
                                << ": a record without its business "
                                   "write or the other way round";
  return recorded;
}

// Every business key has its barrier record.
void ExpectNoOrphanBusinessKeys(RocksDbBarrierStore& store) {
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions()));
  int keys = 0;
  for (it->Seek("biz/"); it->Valid() && it->key().starts_with("biz/");
       it->Next()) {
    ++keys;
    const std::string gid = it->key().ToString().substr(4);
    absl::StatusOr<std::vector<Phase>> phases = store.RecordedPhases(gid, "1");
    ASSERT_TRUE(phases.ok()) << phases.status();
    EXPECT_EQ(*phases, std::vector<Phase>{Phase::kTry}) << gid;
  }
  ASSERT_TRUE(it->status().ok()) << it->status().ToString();
  EXPECT_GT(keys, 0);
}

std::vector<std::string> ChildArgs(const std::string& path, bool buffered,
                                   const std::string& prefix,
                                   const std::string& acks) {
  return {TCC_WAL_CRASH_CHILD_PATH, absl::StrCat("--path=", path),
          absl::StrCat("--buffered=", buffered ? "true" : "false"),
          absl::StrCat("--prefix=", prefix),
          absl::StrCat("--acks_file=", acks)};
}

class WalCrashTest : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Wal, WalCrashTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Buffered" : "Unbuffered";
                         });

// Three rounds on one store: start the child, let it acknowledge a few
// hundred Tries from four threads (group syncs under way), kill -9, check.
TEST_P(WalCrashTest, AcknowledgedTriesSurviveKill9) {
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string prefix = absl::StrCat("r", round);
    const std::string acks = dir.Child(absl::StrCat(prefix, ".acks"));
    {
      Subprocess child;
      ASSERT_TRUE(child
                      .Start(ChildArgs(path, GetParam(), prefix, acks),
                             dir.Child(absl::StrCat(prefix, ".log")))
                      .ok());
      ASSERT_TRUE(WaitFor([&] { return ReadAcks(acks).size() >= 300; },
                          absl::Seconds(120)))
          << "the child acknowledged " << ReadAcks(acks).size()
          << " Tries; see " << dir.Child(absl::StrCat(prefix, ".log"));
      child.Kill();
    }
    const std::vector<int> acked = ReadAcks(acks);
    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store = Reopen(path);
    ASSERT_TRUE(store.ok()) << store.status();
    int lost = 0;
    for (int n : acked) {
      if (!Tried(**store, prefix, n)) ++lost;
    }
    EXPECT_EQ(lost, 0) << "of " << acked.size() << " acknowledged Tries";
    ExpectNoOrphanBusinessKeys(**store);
  }
}

// What buffer_wal_until_sync gives up, and proof that the test above would
// see a loss: Tries acknowledged before any sync (which no participant does)
// are in RocksDB's buffer, not in the file, and die with the process; with
// the WAL written at each commit they are in the page cache and survive it.
TEST_P(WalCrashTest, CommitsNotYetSyncedAndTheProcessKilled) {
  const bool buffered = GetParam();
  constexpr int kTries = 50;
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  const std::string acks = dir.Child("acks");
  {
    Subprocess child;
    std::vector<std::string> args = ChildArgs(path, buffered, "u", acks);
    args.push_back(absl::StrCat("--unsynced=", kTries));
    ASSERT_TRUE(child.Start(args, dir.Child("child.log")).ok());
    ASSERT_TRUE(WaitFor([&] { return ReadAcks(acks).size() >= kTries; },
                        absl::Seconds(60)))
        << "see " << dir.Child("child.log");
    child.Kill();
  }
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store = Reopen(path);
  ASSERT_TRUE(store.ok()) << store.status();
  int survived = 0;
  for (int n = 0; n < kTries; ++n) {
    if (Tried(**store, "u", n)) ++survived;
  }
  EXPECT_EQ(survived, buffered ? 0 : kTries);
}

// A store closed normally leaves nothing in its buffer: Tries committed and
// never synced are in the WAL file afterwards, as they would be unbuffered.
TEST_P(WalCrashTest, CommitsNotYetSyncedAndTheStoreClosed) {
  constexpr int kTries = 50;
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  {
    Subprocess child;
    std::vector<std::string> args =
        ChildArgs(path, GetParam(), "c", dir.Child("acks"));
    args.push_back(absl::StrCat("--unsynced=", kTries));
    args.push_back("--close");
    ASSERT_TRUE(child.Start(args, dir.Child("child.log")).ok());
    int wait_status = 0;
    ASSERT_TRUE(
        WaitFor([&] { return child.Exited(&wait_status); }, absl::Seconds(60)))
        << "see " << dir.Child("child.log");
    ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        << "see " << dir.Child("child.log");
  }
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store = Reopen(path);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int n = 0; n < kTries; ++n) EXPECT_TRUE(Tried(**store, "c", n)) << n;
}

}  // namespace
}  // namespace tcc::participant
