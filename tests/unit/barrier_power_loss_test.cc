// Power loss and the group commit of RocksDbBarrierStore: a barrier call
// whose outcome was acknowledged (AfterSync() called back OK, or Run()
// returned) is still there, together with its handler's business writes,
// after the machine loses power at an arbitrary moment; and a sync that
// fails is reported, to that call and every later one, never acknowledged.
// The cut is simulated by PowerLossFileSystem, which drops every byte not
// made durable by an fsync.

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "raw_barrier_family.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "support/power_loss_fs.h"
#include "support/scoped_temp_dir.h"
#include "tcc/participant/barrier.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::participant {
namespace {

using LocalTransaction = RocksDbBarrierStore::LocalTransaction;
using ::tcc::testing::PowerLossFileSystem;
using ::tcc::testing::PowerLossSummary;
using ::tcc::testing::ScopedTempDir;

constexpr int kSeeds = 30;
// Calls a worker may still issue once the cut is complete. They normally
// stop sooner, at the first write refused after the failed sync; the bound
// keeps a store that never fails (say, one that does not sync) from
// running on.
constexpr int kCallsAfterCut = 20;
constexpr char kBusinessPrefix[] = "biz/";

// The calls made for one branch, in order. Each step may also be repeated
// (a duplicate delivery).
enum class Script {
  kTry,
  kTryConfirm,
  kTryCancel,
  // An empty Cancel, then the hanging Try it refuses.
  kCancelThenTry,
  // Try, Confirm, then a Cancel that the Confirm refuses.
  kTryConfirmCancel,
};
constexpr int kScripts = 5;

// What one call answers while the power is on.
struct Expected {
  Phase phase;
  // kOk or kFailedPrecondition.
  absl::StatusCode code = absl::StatusCode::kOk;
  // Meaningful when code is kOk.
  BarrierResult result = BarrierResult::kApplied;
};

std::vector<Expected> StepsOf(Script script) {
  using enum BarrierResult;
  switch (script) {
    case Script::kTry:
      return {{Phase::kTry}};
    case Script::kTryConfirm:
      return {{Phase::kTry}, {Phase::kConfirm}};
    case Script::kTryCancel:
      return {{Phase::kTry}, {Phase::kCancel}};
    case Script::kCancelThenTry:
      return {{Phase::kCancel, absl::StatusCode::kOk, kEmptyCancel},
              {Phase::kTry, absl::StatusCode::kOk, kRefusedAfterCancel}};
    case Script::kTryConfirmCancel:
      return {{Phase::kTry},
              {Phase::kConfirm},
              {Phase::kCancel, absl::StatusCode::kFailedPrecondition}};
  }
  return {};
}

// What a second delivery of a call answered `first` answers.
Expected Repeated(const Expected& first) {
  if (first.code != absl::StatusCode::kOk ||
      first.result == BarrierResult::kRefusedAfterCancel) {
    return first;
  }
  return {first.phase, absl::StatusCode::kOk, BarrierResult::kDuplicate};
}

// Whether the call wrote a barrier record (as opposed to only reading).
bool Writes(const Expected& e) {
  return e.code == absl::StatusCode::kOk &&
         (e.result == BarrierResult::kApplied ||
          e.result == BarrierResult::kEmptyCancel);
}

// The barrier record an answer rests on, which must survive once the answer
// is acknowledged: the call's own record for what it applied or found done,
// the Cancel for a refused Try, the Confirm for a refused Cancel.
Phase RecordBehind(const Expected& e) {
  if (e.code == absl::StatusCode::kFailedPrecondition) return Phase::kConfirm;
  if (e.result == BarrierResult::kRefusedAfterCancel) return Phase::kCancel;
  return e.phase;
}

std::string DescribeExpected(const Expected& e) {
  return absl::StrCat(PhaseName(e.phase), " answering ",
                      e.code == absl::StatusCode::kOk
                          ? BarrierResultName(e.result)
                          : absl::StatusCodeToString(e.code));
}

struct Branch {
  std::string gid;
  std::string branch_id;
  Script script = Script::kTry;
  // Bytes of business data per handler write, so that records straddle WAL
  // blocks.
  size_t padding = 0;
};

std::string Name(const Branch& b) {
  return absl::StrCat(b.gid, "/", b.branch_id);
}

BranchCall CallOf(const Branch& b) {
  BranchCall call;
  call.gid = b.gid;
  call.branch_id = b.branch_id;
  call.action = "power-loss";
  return call;
}

// The business key each phase's handler writes, in the default column
// family.
std::string BusinessKey(const Branch& b, Phase phase) {
  return absl::StrCat(kBusinessPrefix, b.gid, "/", b.branch_id, "/",
                      PhaseName(phase));
}

std::string BusinessValue(const Branch& b, Phase phase) {
  return absl::StrCat(PhaseName(phase), ":", Name(b), ":",
                      std::string(b.padding, 'p'));
}

std::string TryReply(const Branch& b) {
  return absl::StrCat("reply/", Name(b));
}

// The handler of every phase: writes the phase's business key; Try replies.
absl::Status WriteBusinessKey(const Branch& b, Phase phase,
                              LocalTransaction& txn, std::string* reply) {
  rocksdb::Status s = txn.Put(BusinessKey(b, phase), BusinessValue(b, phase));
  if (!s.ok()) return absl::UnavailableError(s.ToString());
  if (phase == Phase::kTry) *reply = TryReply(b);
  return absl::OkStatus();
}

// Whether a call of `b` answered as `e` says, with the right reply, running
// its handler exactly when it applied.
bool AnsweredAsExpected(const absl::StatusOr<BarrierResult>& got,
                        const std::string& reply, int handler_runs,
                        const Branch& b, const Expected& e) {
  if (got.status().code() != e.code) return false;
  if (!got.ok()) return reply.empty() && handler_runs == 0;
  if (*got != e.result) return false;
  if (handler_runs != (e.result == BarrierResult::kApplied ? 1 : 0)) {
    return false;
  }
  const bool replies =
      e.phase == Phase::kTry && (e.result == BarrierResult::kApplied ||
                                 e.result == BarrierResult::kDuplicate);
  return reply == (replies ? TryReply(b) : "");
}

// Makes WAL appends that fail because the power is out succeed without
// writing anything, as appends to the page cache do on a real machine: only
// the syncs fail. The random-cut test needs it because RocksDB 7.8 built
// with assertions (as Debian packages it) aborts when DB::SyncWAL() follows
// a failed WAL append (see FailedWalAppendThenSyncIsReported). The store
// stops syncing once a commit reports the failure, but a sync that starts
// while the failing append is under way, before the commit returns, still
// aborts; with many workers that race is common. What such an append
// "wrote" never reached the disk, so ApplyLoss() has nothing of it to keep.
class PageCacheWalFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PageCacheWalFileSystem(std::shared_ptr<PowerLossFileSystem> target)
      : FileSystemWrapper(target), power_(target.get()) {}

  static const char* kClassName() { return "PageCacheWalFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Wrap(fname, result,
                target()->NewWritableFile(fname, options, result, dbg));
  }
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Wrap(fname, result,
                target()->ReopenWritableFile(fname, options, result, dbg));
  }
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Wrap(
        fname, result,
        target()->ReuseWritableFile(fname, old_fname, options, result, dbg));
  }

 private:
  class WalFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    WalFile(std::unique_ptr<rocksdb::FSWritableFile> file,
            PowerLossFileSystem* power)
        : FSWritableFileOwnerWrapper(std::move(file)), power_(power) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      return Cached(target()->Append(data, options, dbg));
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& verification,
                             rocksdb::IODebugContext* dbg) override {
      return Cached(target()->Append(data, options, verification, dbg));
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                       uint64_t offset,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
      return Cached(target()->PositionedAppend(data, offset, options, dbg));
    }
    rocksdb::IOStatus PositionedAppend(
        const rocksdb::Slice& data, uint64_t offset,
        const rocksdb::IOOptions& options,
        const rocksdb::DataVerificationInfo& verification,
        rocksdb::IODebugContext* dbg) override {
      return Cached(
          target()->PositionedAppend(data, offset, options, verification, dbg));
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      return Cached(target()->Flush(options, dbg));
    }

   private:
    rocksdb::IOStatus Cached(rocksdb::IOStatus s) {
      if (s.ok() || !power_->power_lost()) return s;
      s.PermitUncheckedError();
      return rocksdb::IOStatus::OK();
    }

    PowerLossFileSystem* const power_;
  };

  rocksdb::IOStatus Wrap(const std::string& fname,
                         std::unique_ptr<rocksdb::FSWritableFile>* result,
                         rocksdb::IOStatus s) {
    if (s.ok() && absl::EndsWith(fname, ".log")) {
      *result = std::make_unique<WalFile>(std::move(*result), power_);
    }
    return s;
  }

  PowerLossFileSystem* const power_;
};

// `buffered`: RocksDbBarrierStoreOptions::buffer_wal_until_sync.
absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> OpenStore(
    const std::string& path, rocksdb::Env* env, bool sync,
    bool buffered = false) {
  RocksDbBarrierStoreOptions options;
  options.path = path;
  options.env = env;
  options.sync = sync;
  options.buffer_wal_until_sync = buffered;
  return RocksDbBarrierStore::Open(std::move(options));
}

// Applies the power cut to the disk (every store on `path` must be closed)
// and reopens the store without the wrapper. Sets *bytes_dropped if given.
absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> ReopenAfterLoss(
    PowerLossFileSystem& fs, const std::string& path,
    uint64_t* bytes_dropped = nullptr) {
  absl::StatusOr<PowerLossSummary> loss = fs.ApplyLoss();
  if (!loss.ok()) return loss.status();
  if (bytes_dropped != nullptr) *bytes_dropped = loss->bytes_dropped;
  return OpenStore(path, nullptr, /*sync=*/true);
}

// Blocks until AfterSync() calls back; returns what it reported.
absl::Status AwaitSync(RocksDbBarrierStore& store) {
  absl::Notification done;
  absl::Status reported;
  store.AfterSync([&](absl::Status status) {
    reported = std::move(status);
    done.Notify();
  });
  done.WaitForNotification();
  return reported;
}

// One call the workload made.
struct Call {
  int branch = 0;
  Expected expected;
  // Run() rather than RunDeferred() + AfterSync().
  bool blocking = false;
  // Issued once the power cut was complete.
  bool after_cut = false;
  // RunDeferred() (or Run()) answered as expected.
  bool answered = false;
  // Acknowledged: AfterSync() called back OK, or Run() answered as expected.
  bool acknowledged = false;
};

std::string Describe(const Call& call, const Branch& b) {
  return absl::StrCat(DescribeExpected(call.expected), " of ", Name(b), " (",
                      call.blocking ? "Run" : "RunDeferred + AfterSync",
                      call.after_cut ? ", issued after the cut" : "", ")");
}

// Worker threads, each running branch scripts one after the other on fresh
// branches. Most calls are RunDeferred() with AfterSync() (a seeded number
// of them awaiting acknowledgement at once per worker), some Run(). A
// worker stops at the first call that does not answer as expected (after
// the cut, the first write once a sync has failed), or kCallsAfterCut calls
// after the cut.
class Workload {
 public:
  Workload(uint64_t seed, RocksDbBarrierStore* store, PowerLossFileSystem* fs)
      : seed_(seed), store_(store), fs_(fs) {}

  void Start(int workers) {
    {
      absl::MutexLock lock(&mu_);
      live_workers_ = workers;
      outstanding_.assign(workers, 0);
      calls_after_cut_.assign(workers, 0);
    }
    for (int w = 0; w < workers; ++w) {
      threads_.emplace_back([this, w] { Work(w); });
    }
  }

  // Blocks until `n` calls were acknowledged. False if a call went wrong
  // first (see violations()).
  bool AwaitAcknowledged(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return acknowledged_ >= n || !violations_.empty() || live_workers_ == 0;
    };
    mu_.Await(absl::Condition(&reached));
    return acknowledged_ >= n && violations_.empty();
  }

  // Marks calls issued from now on as issued after the cut.
  void MarkCutComplete() {
    absl::MutexLock lock(&mu_);
    cut_complete_ = true;
  }

  // Waits for the workers, which stop by themselves once the power is out.
  void Join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  // Final once the store is destroyed (every AfterSync() has called back).
  std::vector<Branch> branches() const {
    absl::MutexLock lock(&mu_);
    return branches_;
  }
  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> violations() const {
    absl::MutexLock lock(&mu_);
    return violations_;
  }

 private:
  void Work(int worker) {
    std::mt19937_64 rng(seed_ * 1000003 + static_cast<uint64_t>(worker));
    const int window = 1 + static_cast<int>(rng() % 16);
    for (int k = 0;; ++k) {
      Branch b;
      b.gid = absl::StrCat("w", worker, "-", k);
      b.branch_id = absl::StrCat(1 + rng() % 3);
      b.script = static_cast<Script>(rng() % kScripts);
      b.padding = rng() % 3000;
      int index;
      {
        absl::MutexLock lock(&mu_);
        index = static_cast<int>(branches_.size());
        branches_.push_back(b);
      }
      for (const Expected& step : StepsOf(b.script)) {
        const int deliveries = rng() % 4 == 0 ? 2 : 1;
        for (int d = 0; d < deliveries; ++d) {
          if (!Issue(worker, window, index, b, d == 0 ? step : Repeated(step),
                     /*blocking=*/rng() % 5 == 0)) {
            absl::MutexLock lock(&mu_);
            --live_workers_;
            return;
          }
        }
      }
    }
  }

  // Makes one call; false if it did not answer as expected or the worker
  // has made enough calls after the cut.
  bool Issue(int worker, int window, int branch, const Branch& b,
             const Expected& e, bool blocking) {
    int id;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, worker, window]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return outstanding_[worker] < window;
      };
      mu_.Await(absl::Condition(&ready));
      if (cut_complete_ && ++calls_after_cut_[worker] > kCallsAfterCut) {
        return false;
      }
      id = static_cast<int>(calls_.size());
      Call call;
      call.branch = branch;
      call.expected = e;
      call.blocking = blocking;
      call.after_cut = cut_complete_;
      calls_.push_back(call);
      if (!blocking) ++outstanding_[worker];
    }
    int handler_runs = 0;
    auto handler = [&](LocalTransaction& txn, std::string* reply) {
      ++handler_runs;
      return WriteBusinessKey(b, e.phase, txn, reply);
    };
    std::string reply;
    const absl::StatusOr<BarrierResult> got =
        blocking ? store_->Run(CallOf(b), e.phase, handler, &reply)
                 : store_->RunDeferred(CallOf(b), e.phase, handler, &reply);
    const bool as_expected = AnsweredAsExpected(got, reply, handler_runs, b, e);
    // Read after the answer: a failure caused by the cut sees the power out.
    const bool power_on = !fs_->power_lost();
    {
      absl::MutexLock lock(&mu_);
      Call& call = calls_[id];
      call.answered = as_expected;
      if (as_expected && blocking) {
        call.acknowledged = true;
        ++acknowledged_;
      }
      if (!as_expected && !blocking) --outstanding_[worker];
      if (!as_expected && power_on) {
        violations_.push_back(absl::StrCat(
            Describe(call, b), " got ",
            got.ok() ? BarrierResultName(*got) : got.status().ToString(),
            " (reply \"", reply, "\", handler ran ", handler_runs,
            " times) with the power on"));
      }
    }
    // A worker that stops with the power on would leave an armed cut
    // waiting forever; cut it now (the test fails anyway).
    if (!as_expected && power_on) fs_->LosePower();
    if (as_expected && !blocking) {
      store_->AfterSync([this, id, worker](absl::Status status) {
        Synced(id, worker, status);
      });
    }
    return as_expected;
  }

  void Synced(int id, int worker, const absl::Status& status) {
    const bool power_on = !fs_->power_lost();
    absl::MutexLock lock(&mu_);
    --outstanding_[worker];
    if (status.ok()) {
      calls_[id].acknowledged = true;
      ++acknowledged_;
    } else if (power_on) {
      violations_.push_back(absl::StrCat(
          "AfterSync of ", Describe(calls_[id], branches_[calls_[id].branch]),
          " reported ", status.ToString(), " with the power on"));
    }
  }

  const uint64_t seed_;
  RocksDbBarrierStore* const store_;
  PowerLossFileSystem* const fs_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  std::vector<Branch> branches_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  // Per worker: RunDeferred() calls whose AfterSync() has not called back.
  std::vector<int> outstanding_ ABSL_GUARDED_BY(mu_);
  // Per worker: calls issued once the cut was complete.
  std::vector<int> calls_after_cut_ ABSL_GUARDED_BY(mu_);
  int live_workers_ ABSL_GUARDED_BY(mu_) = 0;
  int acknowledged_ ABSL_GUARDED_BY(mu_) = 0;
  bool cut_complete_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

// Figures of one check, for the log.
struct Survival {
  int acknowledged = 0;
  int issued_after_cut = 0;
  // Calls that wrote, were answered but not yet acknowledged, and whose
  // record is gone: evidence that the cut dropped something.
  int lost_unacknowledged = 0;
};

// Checks the reopened store against what the workers were told.
void ExpectAcknowledgedCallsSurvived(RocksDbBarrierStore& store,
                                     const std::vector<Branch>& branches,
                                     const std::vector<Call>& calls,
                                     Survival* survival) {
  // Collected rather than reported one by one: a broken store breaks
  // hundreds.
  std::vector<std::string> violations;
  std::vector<std::set<Phase>> recorded(branches.size());
  std::vector<std::set<Phase>> issued(branches.size());
  for (const Call& call : calls)
    issued[call.branch].insert(call.expected.phase);

  std::map<std::string, std::string> want_business;
  for (size_t i = 0; i < branches.size(); ++i) {
    const Branch& b = branches[i];
    absl::StatusOr<std::vector<Phase>> phases =
        store.RecordedPhases(b.gid, b.branch_id);
    ASSERT_TRUE(phases.ok()) << phases.status();
    recorded[i].insert(phases->begin(), phases->end());
    const std::set<Phase>& has = recorded[i];
    for (Phase phase : has) {
      if (!issued[i].contains(phase)) {
        violations.push_back(absl::StrCat(Name(b), ": ", PhaseName(phase),
                                          " recorded but never called"));
      }
    }
    const bool tried = has.contains(Phase::kTry);
    if (!tried && has.contains(Phase::kConfirm)) {
      violations.push_back(
          absl::StrCat(Name(b), ": confirm recorded without its try"));
    }
    if (!tried && has.contains(Phase::kCancel) &&
        b.script != Script::kCancelThenTry) {
      violations.push_back(absl::StrCat(
          Name(b), ": cancel recorded without the try it followed"));
    }
    if (tried && b.script == Script::kCancelThenTry) {
      violations.push_back(
          absl::StrCat(Name(b), ": try recorded after its cancel"));
    }
    // Handlers ran for the Try and the Confirm, and for a Cancel after a
    // Try; their writes committed with the record or not at all.
    const std::map<Phase, bool> handler_ran = {
        {Phase::kTry, tried},
        {Phase::kConfirm, has.contains(Phase::kConfirm)},
        {Phase::kCancel, tried && has.contains(Phase::kCancel)}};
    for (const auto& [phase, ran] : handler_ran) {
      const std::string key = BusinessKey(b, phase);
      if (ran) want_business[key] = BusinessValue(b, phase);
      std::string value;
      rocksdb::Status s = store.db()->Get(rocksdb::ReadOptions(), key, &value);
      if (!s.ok() && !s.IsNotFound()) {
        violations.push_back(absl::StrCat(key, ": ", s.ToString()));
      } else if (s.ok() != ran) {
        violations.push_back(absl::StrCat(
            Name(b), ": business key of ", PhaseName(phase),
            s.ok() ? " present" : " missing", ", recorded phases {",
            absl::StrJoin(
                has, ",",
                [](std::string* out, Phase p) { out->append(PhaseName(p)); }),
            "}"));
      } else if (ran && value != BusinessValue(b, phase)) {
        violations.push_back(
            absl::StrCat(key, ": wrong value (", value.size(), " bytes)"));
      }
    }
  }

  // No business write outside the branches' handlers.
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions()));
  size_t business_keys = 0;
  for (it->Seek(kBusinessPrefix);
       it->Valid() && it->key().starts_with(kBusinessPrefix); it->Next()) {
    ++business_keys;
    if (!want_business.contains(it->key().ToString())) {
      violations.push_back(
          absl::StrCat("stray business key ", it->key().ToString()));
    }
  }
  ASSERT_TRUE(it->status().ok()) << it->status().ToString();
  EXPECT_EQ(business_keys, want_business.size());

  // Every acknowledged answer survived.
  *survival = Survival();
  for (const Call& call : calls) {
    const Branch& b = branches[call.branch];
    const bool present =
        recorded[call.branch].contains(RecordBehind(call.expected));
    if (call.after_cut) ++survival->issued_after_cut;
    if (call.answered && !call.acknowledged && Writes(call.expected) &&
        !present) {
      ++survival->lost_unacknowledged;
    }
    if (!call.acknowledged) continue;
    ++survival->acknowledged;
    if (!present) {
      violations.push_back(absl::StrCat(
          "acknowledged ", Describe(call, b), " lost: ",
          PhaseName(RecordBehind(call.expected)), " record missing"));
    }
    if (call.after_cut && Writes(call.expected)) {
      violations.push_back(absl::StrCat("acknowledged ", Describe(call, b),
                                        " though it wrote after the cut"));
    }
  }

  // A recorded Try (every acknowledged one) answers a new delivery as a
  // duplicate with its stored reply, a recorded empty Cancel refuses it;
  // neither runs the handler.
  for (size_t i = 0; i < branches.size(); ++i) {
    const Branch& b = branches[i];
    Expected want;
    want.phase = Phase::kTry;
    if (recorded[i].contains(Phase::kTry)) {
      want.result = BarrierResult::kDuplicate;
    } else if (recorded[i].contains(Phase::kCancel)) {
      want.result = BarrierResult::kRefusedAfterCancel;
    } else {
      continue;
    }
    int runs = 0;
    std::string reply;
    absl::StatusOr<BarrierResult> got = store.Run(
        CallOf(b), Phase::kTry,
        [&](LocalTransaction& txn, std::string* out) {
          ++runs;
          return WriteBusinessKey(b, Phase::kTry, txn, out);
        },
        &reply);
    if (!AnsweredAsExpected(got, reply, runs, b, want)) {
      violations.push_back(absl::StrCat(
          "Try of ", Name(b), " after reopening: got ",
          got.ok() ? BarrierResultName(*got) : got.status().ToString(),
          " with reply \"", reply, "\", handler ran ", runs, " times; want ",
          DescribeExpected(want)));
    }
  }

  const size_t total = violations.size();
  if (violations.size() > 10) violations.resize(10);
  EXPECT_EQ(total, 0u) << "what the reopened store holds contradicts the "
                          "acknowledgements (first 10):\n"
                       << absl::StrJoin(violations, "\n");
}

class BarrierPowerLossRandomCutTest : public ::testing::TestWithParam<int> {};

// Workers run branch scripts concurrently through one store; the power is
// cut after a seed-chosen number of acknowledgements, while calls and syncs
// are in flight. After the loss is applied the store must reopen and hold
// the record behind every acknowledged answer, each record with its
// handler's business writes and no business write without its record.
TEST_P(BarrierPowerLossRandomCutTest,
       AcknowledgedCallsSurvivePowerLossAtRandomCuts) {
  const uint64_t seed = static_cast<uint64_t>(GetParam());
  std::mt19937_64 rng(seed);
  const int workers = 1 + static_cast<int>(rng() % 8);
  const int cut_after = 1 + static_cast<int>(rng() % 1000);
  // 0: the test thread cuts as soon as it sees the acknowledgement. Else the
  // cut falls that many file-system calls later, on a worker or the sync
  // thread: between a WAL append and its sync, say.
  const int cut_delay = static_cast<int>(rng() % 8);
  // Every other seed with the WAL buffered until each group sync.
  const bool buffered = GetParam() % 2 == 0;
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env =
      rocksdb::NewCompositeEnv(std::make_shared<PageCacheWalFileSystem>(fs));

  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
      OpenStore(path, env.get(), /*sync=*/true, buffered);
  ASSERT_TRUE(store.ok()) << store.status();
  Workload workload(seed, store->get(), fs.get());
  workload.Start(workers);
  const bool cut_while_healthy = workload.AwaitAcknowledged(cut_after);
  // The workers keep writing until the cut, so an armed one comes.
  fs->LosePowerAfter(cut_while_healthy ? cut_delay : 0);
  fs->AwaitPowerLoss();
  workload.MarkCutComplete();
  workload.Join();
  store->reset();  // every AfterSync() has called back
  const std::vector<std::string> violations = workload.violations();
  ASSERT_TRUE(violations.empty()) << absl::StrJoin(violations, "\n");
  ASSERT_TRUE(cut_while_healthy);

  uint64_t bytes_dropped = 0;
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> reopened =
      ReopenAfterLoss(*fs, path, &bytes_dropped);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  const std::vector<Branch> branches = workload.branches();
  const std::vector<Call> calls = workload.calls();
  Survival survival;
  ExpectAcknowledgedCallsSurvived(**reopened, branches, calls, &survival);
  std::printf(
      "seed %d (%s WAL): %d workers, cut %d calls after ack %d: %zu "
      "branches, %zu calls, %d acknowledged, %d issued after the cut, %d "
      "unacknowledged writes lost, %llu bytes dropped\n",
      GetParam(), buffered ? "buffered" : "unbuffered", workers, cut_delay,
      cut_after, branches.size(), calls.size(), survival.acknowledged,
      survival.issued_after_cut, survival.lost_unacknowledged,
      static_cast<unsigned long long>(bytes_dropped));
}

INSTANTIATE_TEST_SUITE_P(Seeds, BarrierPowerLossRandomCutTest,
                         ::testing::Range(1, kSeeds + 1),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat("Seed", info.param);
                         });

Branch TestBranch(std::string gid) {
  Branch b;
  b.gid = std::move(gid);
  b.branch_id = "1";
  b.padding = 100;
  return b;
}

absl::StatusOr<BarrierResult> TryDeferred(RocksDbBarrierStore& store,
                                          const Branch& b,
                                          std::string* reply = nullptr) {
  return store.RunDeferred(
      CallOf(b), Phase::kTry,
      [&](LocalTransaction& txn, std::string* out) {
        return WriteBusinessKey(b, Phase::kTry, txn, out);
      },
      reply);
}

absl::StatusOr<BarrierResult> TryBlocking(RocksDbBarrierStore& store,
                                          const Branch& b,
                                          std::string* reply = nullptr) {
  return store.Run(
      CallOf(b), Phase::kTry,
      [&](LocalTransaction& txn, std::string* out) {
        return WriteBusinessKey(b, Phase::kTry, txn, out);
      },
      reply);
}

// Whether the Try of `b` is in the store: its record and business key.
void ExpectTried(RocksDbBarrierStore& store, const Branch& b, bool tried) {
  absl::StatusOr<std::vector<Phase>> phases =
      store.RecordedPhases(b.gid, b.branch_id);
  ASSERT_TRUE(phases.ok()) << phases.status();
  EXPECT_EQ(*phases,
            tried ? std::vector<Phase>{Phase::kTry} : std::vector<Phase>{})
      << Name(b);
  std::string value;
  rocksdb::Status s = store.db()->Get(rocksdb::ReadOptions(),
                                      BusinessKey(b, Phase::kTry), &value);
  EXPECT_EQ(s.ok(), tried) << Name(b) << ": " << s.ToString();
}

// The random-cut test could pass vacuously if the wrapper lost nothing:
// without the sync thread (sync = false), AfterSync() acknowledges at once
// and an acknowledged Try is gone after the cut.
TEST(BarrierPowerLossTest, UnsyncedStoreLosesAcknowledgedTry) {
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  const Branch deferred = TestBranch("deferred");
  const Branch blocking = TestBranch("blocking");
  {
    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
        OpenStore(path, env.get(), /*sync=*/false);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(TryDeferred(**store, deferred).value(), BarrierResult::kApplied);
    EXPECT_TRUE(AwaitSync(**store).ok());
    EXPECT_EQ(TryBlocking(**store, blocking).value(), BarrierResult::kApplied);
    ExpectTried(**store, deferred, true);
    ExpectTried(**store, blocking, true);
    fs->LosePower();
  }
  uint64_t bytes_dropped = 0;
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> reopened =
      ReopenAfterLoss(*fs, path, &bytes_dropped);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_GT(bytes_dropped, 0u);
  ExpectTried(**reopened, deferred, false);
  ExpectTried(**reopened, blocking, false);
}

// The tests below run with the WAL written at each commit (false) and
// buffered until each group sync (true, buffer_wal_until_sync).
class BarrierPowerLossWalTest : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Wal, BarrierPowerLossWalTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Buffered" : "Unbuffered";
                         });

// With the sync thread, a Try acknowledged through AfterSync() survives the
// cut, while a later one, committed but never passed to AfterSync() (so
// never synced), is lost: the cut fell inside the same WAL (unbuffered), or
// the record never left the process (buffered).
TEST_P(BarrierPowerLossWalTest, SyncedTrySurvivesAndUnsyncedNeighbourIsLost) {
  const bool buffered = GetParam();
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  const Branch synced = TestBranch("synced");
  const Branch unsynced = TestBranch("unsynced");
  {
    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
        OpenStore(path, env.get(), /*sync=*/true, buffered);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(TryDeferred(**store, synced).value(), BarrierResult::kApplied);
    ASSERT_TRUE(AwaitSync(**store).ok());
    EXPECT_EQ(TryDeferred(**store, unsynced).value(), BarrierResult::kApplied);
    ExpectTried(**store, unsynced, true);
    fs->LosePower();
  }
  uint64_t bytes_dropped = 0;
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> reopened =
      ReopenAfterLoss(*fs, path, &bytes_dropped);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  // Buffered, the unsynced record was never written to the file.
  if (buffered) {
    EXPECT_EQ(bytes_dropped, 0u);
  } else {
    EXPECT_GT(bytes_dropped, 0u);
  }
  ExpectTried(**reopened, synced, true);
  ExpectTried(**reopened, unsynced, false);
  std::string reply;
  EXPECT_EQ(TryBlocking(**reopened, synced, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, TryReply(synced));
}

// A sync that fails is reported to its waiters and to every later one,
// even for answers that wrote nothing and rest on records synced before.
// RunDeferred() may itself fail once the power is out; nothing may be
// reported OK.
TEST_P(BarrierPowerLossWalTest, FailedSyncIsReportedAndSticky) {
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  const Branch synced = TestBranch("synced");
  const Branch pending = TestBranch("pending");
  const Branch late = TestBranch("late");
  const Branch later = TestBranch("later");
  auto expect_failure = [](const absl::Status& status) {
    EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
                status.code() == absl::StatusCode::kInternal)
        << status;
  };
  {
    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
        OpenStore(path, env.get(), /*sync=*/true, GetParam());
    ASSERT_TRUE(store.ok()) << store.status();
    RocksDbBarrierStore& s = **store;
    EXPECT_EQ(TryBlocking(s, synced).value(), BarrierResult::kApplied);
    EXPECT_EQ(TryDeferred(s, pending).value(), BarrierResult::kApplied);

    // The next sync fails.
    fs->LosePower();
    expect_failure(AwaitSync(s));

    // A later write, whether or not it commits, is not acknowledged.
    absl::StatusOr<BarrierResult> write = TryDeferred(s, late);
    expect_failure(AwaitSync(s));
    if (!write.ok()) expect_failure(write.status());

    // Nor an answer resting on a record that never reached the disk...
    std::string reply;
    EXPECT_EQ(TryDeferred(s, pending, &reply).value(),
              BarrierResult::kDuplicate);
    expect_failure(AwaitSync(s));
    // ...nor, the failure being sticky, one resting on a synced record.
    EXPECT_EQ(TryDeferred(s, synced, &reply).value(),
              BarrierResult::kDuplicate);
    expect_failure(AwaitSync(s));

    // Run() reports the failure instead of an answer.
    reply = "stale";
    absl::StatusOr<BarrierResult> run = TryBlocking(s, synced, &reply);
    ASSERT_FALSE(run.ok()) << BarrierResultName(*run);
    expect_failure(run.status());
    EXPECT_EQ(reply, "");
    run = TryBlocking(s, later, &reply);
    ASSERT_FALSE(run.ok()) << BarrierResultName(*run);
    expect_failure(run.status());
  }
  // What the failed sync would have covered is indeed gone.
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> reopened =
      ReopenAfterLoss(*fs, path);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ExpectTried(**reopened, synced, true);
  ExpectTried(**reopened, pending, false);
  ExpectTried(**reopened, late, false);
  ExpectTried(**reopened, later, false);
}

// After a WAL append failed, RocksDB 7.8 built with assertions (Debian's
// package is) aborts in DB::SyncWAL() (WritableFileWriter::
// SyncWithoutFlush: `sync_without_flush_called_`) instead of returning
// "Writer has previous error". The store marks its sync thread failed when a
// commit fails with an I/O error, so the next AfterSync() reports the error
// without calling SyncWAL().
TEST(BarrierPowerLossTest, FailedWalAppendThenSyncIsReported) {
  ScopedTempDir dir;
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
      OpenStore(dir.Child("db"), env.get(), /*sync=*/true);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(TryDeferred(**store, TestBranch("pending")).value(),
            BarrierResult::kApplied);
  fs->LosePower();
  EXPECT_FALSE(TryDeferred(**store, TestBranch("late")).ok());
  EXPECT_FALSE(AwaitSync(**store).ok());
}

// With the WAL buffered, the append happens in the sync: the commit
// succeeds, its sync fails (FlushWAL() fails to write the buffer, and
// RocksDB stops the database), and nothing later is acknowledged. Neither
// the failed write nor the calls after it may abort the process (RocksDB
// built with assertions aborts when a WAL file that failed a write is
// written or synced again).
TEST(BarrierPowerLossTest, FailedBufferedWalWriteIsReportedAndSticky) {
  ScopedTempDir dir;
  const std::string path = dir.Child("db");
  auto fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  const Branch synced = TestBranch("synced");
  const Branch late = TestBranch("late");
  const Branch later = TestBranch("later");
  {
    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
        OpenStore(path, env.get(), /*sync=*/true, /*buffered=*/true);
    ASSERT_TRUE(store.ok()) << store.status();
    RocksDbBarrierStore& s = **store;
    EXPECT_EQ(TryBlocking(s, synced).value(), BarrierResult::kApplied);
    fs->LosePower();
    EXPECT_EQ(TryDeferred(s, late).value(), BarrierResult::kApplied);
    EXPECT_FALSE(AwaitSync(s).ok());
    absl::StatusOr<BarrierResult> write = TryDeferred(s, later);
    EXPECT_FALSE(AwaitSync(s).ok());
    if (!write.ok()) {
      EXPECT_EQ(write.status().code(), absl::StatusCode::kUnavailable)
          << write.status();
    }
    std::string reply;
    EXPECT_FALSE(TryBlocking(s, synced, &reply).ok());
  }
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> reopened =
      ReopenAfterLoss(*fs, path);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ExpectTried(**reopened, synced, true);
  ExpectTried(**reopened, late, false);
  ExpectTried(**reopened, later, false);
}

// Open() converts barrier records of the per-phase layout in synced batches
// of whole branches: a power cut anywhere in it leaves every branch either
// converted or not, and the next Open() converts the rest. Cut after every
// third mutating file-system call in turn (an Open() makes ~260, ~20 of
// them between the migration's first batch and its last), until Open()
// finishes before the cut.
TEST(BarrierPowerLossTest, MigrationFinishesAfterAPowerCutAnywhere) {
  // More than two migration batches (1000 branches each).
  constexpr int kBranches = 2100;
  const auto branch_gid = [](int i) { return absl::StrCat("g", i); };
  int cuts_inside_migration = 0;
  int cuts = 0;
  bool finished_before_cut = false;
  for (int cut = 0; cut < 1500 && !finished_before_cut; cut += 3, ++cuts) {
    SCOPED_TRACE(absl::StrCat("cut after ", cut, " mutations"));
    ScopedTempDir dir;
    const std::string path = dir.Child("db");
    {
      testing::RawBarrierFamily old(path);
      for (int i = 0; i < kBranches; ++i) {
        old.Record(branch_gid(i), "1", 'T', 1000 + i, absl::StrCat("r", i));
        if (i % 3 == 1) old.Record(branch_gid(i), "1", 'C', 5000 + i);
      }
    }
    auto fs = std::make_shared<PowerLossFileSystem>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    fs->LosePowerAfter(cut);
    {
      // Fails once the cut has happened; the outcome is checked below.
      absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
          OpenStore(path, env.get(), /*sync=*/true);
    }
    finished_before_cut = !fs->power_lost();
    ASSERT_TRUE(fs->ApplyLoss().ok());
    {
      // What the cut left: some branches converted, no format key yet.
      testing::RawBarrierFamily after_cut(path);
      if (after_cut.Count('b') > 0 && after_cut.Count('v') == 0) {
        ++cuts_inside_migration;
      }
    }

    absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
        OpenStore(path, nullptr, /*sync=*/true);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < kBranches; ++i) {
      std::vector<Phase> expected = {Phase::kTry};
      if (i % 3 == 1) expected.push_back(Phase::kConfirm);
      ASSERT_EQ((*store)->RecordedPhases(branch_gid(i), "1").value(), expected)
          << branch_gid(i);
    }
    std::string reply;
    BranchCall call;
    call.gid = branch_gid(kBranches - 1);
    call.branch_id = "1";
    EXPECT_EQ((*store)
                  ->Run(
                      call, Phase::kTry,
                      [](LocalTransaction&, std::string*) {
                        return absl::InternalError("must not run");
                      },
                      &reply)
                  .value(),
              BarrierResult::kDuplicate);
    EXPECT_EQ(reply, absl::StrCat("r", kBranches - 1));
  }
  std::printf("%d cuts, %d of them between two migration batches\n", cuts,
              cuts_inside_migration);
  EXPECT_TRUE(finished_before_cut);
  // The sweep must have cut between two of the migration's batches.
  EXPECT_GT(cuts_inside_migration, 0);
}

}  // namespace
}  // namespace tcc::participant
