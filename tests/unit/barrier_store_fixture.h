#ifndef TCC_TESTS_UNIT_BARRIER_STORE_FIXTURE_H_
#define TCC_TESTS_UNIT_BARRIER_STORE_FIXTURE_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "barrier_store_harness.h"
#include "gtest/gtest.h"
#include "tcc/common/clock.h"
#include "tcc/participant/barrier.h"

// The typed fixture of the barrier tests: each test runs once per store.
namespace tcc::participant::barrier_test {

#ifdef TCC_HAVE_POSTGRES
using StoreHarnesses = ::testing::Types<RocksDbHarness, PostgresHarness>;
#else
using StoreHarnesses = ::testing::Types<RocksDbHarness>;
#endif

// Names the typed tests "<Suite>/RocksDb", "<Suite>/Postgres".
struct HarnessName {
  template <class Harness>
  static std::string GetName(int) {
    return Harness::kName;
  }
};

// Who is running on this thread, as sync point hooks see it.
inline thread_local std::string sync_actor = "main";

template <class Harness>
class BarrierStoreTest : public ::testing::Test {
 protected:
  using Store = typename Harness::Store;
  using Txn = typename Harness::Txn;
  using Body = std::function<absl::Status(Txn& txn, std::string* reply)>;
  using Hook =
      std::function<void(const std::string& actor, std::string_view point)>;

  void SetUp() override { Reopen(); }

  void Reopen() {
    absl::Status opened =
        harness_.Open(&clock_, [this](std::string_view point) {
          Hook hook;
          {
            absl::MutexLock lock(&mu_);
            hook = hook_;
          }
          if (hook) hook(sync_actor, point);
        });
    ASSERT_TRUE(opened.ok()) << opened;
  }

  Store* store() { return harness_.store(); }

  // Called at every sync point of every Run(), with the thread's actor.
  void SetSyncHook(Hook hook) {
    absl::MutexLock lock(&mu_);
    hook_ = std::move(hook);
  }

  // Delivers `phase` with the standard handler: it applies the phase's
  // effect and (Try) replies ReplyOf(call).
  absl::StatusOr<BarrierResult> Deliver(const BranchCall& call, Phase phase,
                                        std::string* reply = nullptr) {
    return DeliverWith(call, phase, StandardBody(call, phase), reply);
  }

  // Delivers `phase` with `body` as the handler.
  absl::StatusOr<BarrierResult> DeliverWith(const BranchCall& call, Phase phase,
                                            const Body& body,
                                            std::string* reply = nullptr) {
    return store()->Run(
        call, phase,
        [&](Txn& txn, std::string* out) {
          {
            absl::MutexLock lock(&mu_);
            ++handler_runs_[EffectKey(call, phase)];
          }
          return body(txn, out);
        },
        reply);
  }

  // The standard handler, for tests that wrap it.
  Body StandardBody(const BranchCall& call, Phase phase) {
    return [call, phase](Txn& txn, std::string* out) -> absl::Status {
      absl::Status status = Harness::AddEffect(txn, EffectKey(call, phase));
      if (!status.ok()) return status;
      if (phase == Phase::kTry) *out = ReplyOf(call);
      return absl::OkStatus();
    };
  }

  // How many times the phase's effect committed.
  int Effect(const BranchCall& call, Phase phase) {
    absl::StatusOr<int> count = harness_.Effect(EffectKey(call, phase));
    EXPECT_TRUE(count.ok()) << count.status();
    return count.value_or(-1);
  }

  // How many times the phase's handler was entered (committed or not).
  int HandlerRuns(const BranchCall& call, Phase phase) {
    absl::MutexLock lock(&mu_);
    auto it = handler_runs_.find(EffectKey(call, phase));
    return it == handler_runs_.end() ? 0 : it->second;
  }

  std::vector<Phase> Recorded(const BranchCall& call) {
    absl::StatusOr<std::vector<Phase>> phases =
        store()->RecordedPhases(call.gid, call.branch_id);
    EXPECT_TRUE(phases.ok()) << phases.status();
    return phases.value_or(std::vector<Phase>{});
  }

  // Declared before the store (in harness_), whose hook uses them.
  absl::Mutex mu_;
  Hook hook_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> handler_runs_ ABSL_GUARDED_BY(mu_);
  ManualClock clock_;
  Harness harness_;
};

}  // namespace tcc::participant::barrier_test

#endif  // TCC_TESTS_UNIT_BARRIER_STORE_FIXTURE_H_
