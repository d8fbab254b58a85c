// A handler that refuses, fails, throws, or dies with its process leaves no
// barrier record and no business write, and the next delivery is treated as
// the first; against every store.

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "barrier_store_fixture.h"
#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"
#include "support/subprocess.h"

namespace tcc::participant::barrier_test {
namespace {

template <class Harness>
class BarrierFailureTest : public BarrierStoreTest<Harness> {
 protected:
  using Txn = typename Harness::Txn;

  // A handler that applies the phase's effect and then fails with `status`.
  auto FailingAfterWrite(const BranchCall& call, Phase phase,
                         absl::Status status) {
    return [call, phase, status](Txn& txn, std::string* reply) {
      absl::Status written = Harness::AddEffect(txn, EffectKey(call, phase));
      if (!written.ok()) return written;
      *reply = "never seen";
      return status;
    };
  }

  // Runs `phase` of `call` in a child process (barrier_crash_child) whose
  // handler applies the effect and is then killed with SIGKILL before the
  // transaction commits.
  void KillChildInsideHandler(const BranchCall& call, Phase phase) {
    if (Harness::kExclusiveOpen) this->harness_.Close();
    testing::ScopedTempDir dir;
    const std::string ready = dir.Child("in-handler");
    std::vector<std::string> argv = {TCC_BARRIER_CRASH_CHILD_PATH};
    for (const std::string& flag : this->harness_.ChildFlags()) {
      argv.push_back(flag);
    }
    argv.push_back("--gid=" + call.gid);
    argv.push_back("--branch_id=" + call.branch_id);
    argv.push_back(absl::StrCat("--phase=", PhaseName(phase)));
    argv.push_back("--ready_file=" + ready);
    testing::Subprocess child;
    ASSERT_TRUE(child.Start(argv, dir.Child("child.log")).ok());
    ASSERT_TRUE(testing::WaitFor([&] {
      return access(ready.c_str(), F_OK) == 0 || child.Exited();
    })) << "the child never reached its handler";
    ASSERT_TRUE(child.running()) << "the child exited on its own";
    child.Kill();
    if (Harness::kExclusiveOpen) this->Reopen();
  }
};
TYPED_TEST_SUITE(BarrierFailureTest, StoreHarnesses, HarnessName);

TYPED_TEST(BarrierFailureTest, RefusedTryLeavesNoRecordAndNoBusinessWrite) {
  const BranchCall call = Call("g1");
  std::string reply;
  absl::StatusOr<BarrierResult> refused = this->DeliverWith(
      call, Phase::kTry,
      this->FailingAfterWrite(call, Phase::kTry,
                              absl::AbortedError("insufficient stock")),
      &reply);
  EXPECT_EQ(refused.status(), absl::AbortedError("insufficient stock"));
  EXPECT_EQ(reply, "");
  EXPECT_EQ(this->Effect(call, Phase::kTry), 0);
  EXPECT_TRUE(this->Recorded(call).empty());

  // The coordinator's Cancel of the refused Try is empty: the cancel handler
  // never sees a reservation that was not made, and the Try stays refused.
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kEmptyCancel);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kCancel), 0);
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kRefusedAfterCancel);
}

TYPED_TEST(BarrierFailureTest, TryRetriedAfterAnUnknownOutcomeAppliesOnce) {
  const BranchCall call = Call("g1");
  EXPECT_EQ(this->DeliverWith(call, Phase::kTry,
                              this->FailingAfterWrite(
                                  call, Phase::kTry,
                                  absl::UnavailableError("downstream busy")))
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), 2);
}

TYPED_TEST(BarrierFailureTest, ThrowingHandlerRollsBackAndAnswersInternal) {
  const BranchCall call = Call("g1");
  absl::StatusOr<BarrierResult> thrown = this->DeliverWith(
      call, Phase::kTry, [&](auto& txn, std::string*) -> absl::Status {
        EXPECT_TRUE(
            TypeParam::AddEffect(txn, EffectKey(call, Phase::kTry)).ok());
        throw std::runtime_error("bug in handler");
      });
  EXPECT_EQ(thrown.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(thrown.status().message().find("bug in handler"),
            absl::string_view::npos)
      << thrown.status();
  EXPECT_EQ(this->Effect(call, Phase::kTry), 0);
  EXPECT_TRUE(this->Recorded(call).empty());
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
}

TYPED_TEST(BarrierFailureTest, FailedConfirmIsRetriedAndAppliesOnce) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->DeliverWith(call, Phase::kConfirm,
                              this->FailingAfterWrite(
                                  call, Phase::kConfirm,
                                  absl::InternalError("ledger unavailable")))
                .status()
                .code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(this->Effect(call, Phase::kConfirm), 0);
  EXPECT_EQ(this->Recorded(call), std::vector<Phase>{Phase::kTry});
  EXPECT_EQ(this->Deliver(call, Phase::kConfirm).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kConfirm).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->Effect(call, Phase::kConfirm), 1);
}

TYPED_TEST(BarrierFailureTest, FailedCancelIsRetriedAndCompensatesOnce) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_FALSE(this->DeliverWith(call, Phase::kCancel,
                                 [&](auto& txn, std::string*) -> absl::Status {
                                   EXPECT_TRUE(
                                       TypeParam::AddEffect(
                                           txn, EffectKey(call, Phase::kCancel))
                                           .ok());
                                   throw std::logic_error("half done");
                                 })
                   .ok());
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 0);
  // Still a real compensation, not an empty cancel: the Try is recorded.
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 1);
}

TYPED_TEST(BarrierFailureTest, ProcessKilledInsideTheTryHandlerLeavesNothing) {
  const BranchCall call = Call("g1");
  this->KillChildInsideHandler(call, Phase::kTry);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 0);
  EXPECT_TRUE(this->Recorded(call).empty());
  // The redelivered Try is the first one that counts.
  std::string reply;
  EXPECT_EQ(this->Deliver(call, Phase::kTry, &reply).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(reply, ReplyOf(call));
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
}

TYPED_TEST(BarrierFailureTest,
           ProcessKilledInsideTheCancelHandlerLeavesTheTryToCompensate) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  this->KillChildInsideHandler(call, Phase::kCancel);
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 0);
  EXPECT_EQ(this->Recorded(call), std::vector<Phase>{Phase::kTry});
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 1);
}

}  // namespace
}  // namespace tcc::participant::barrier_test
