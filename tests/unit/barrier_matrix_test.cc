// The barrier rules of barrier.h, for every ordering of Try, Confirm and
// Cancel of one branch, duplicates included, against every store.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "barrier_store_fixture.h"
#include "gtest/gtest.h"

namespace tcc::participant::barrier_test {
namespace {

template <class Harness>
using BarrierMatrixTest = BarrierStoreTest<Harness>;
TYPED_TEST_SUITE(BarrierMatrixTest, StoreHarnesses, HarnessName);

TYPED_TEST(BarrierMatrixTest,
           TryThenConfirmAppliesEachOnceAndDuplicatesAnswerOk) {
  const BranchCall call = Call("g1");
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->Deliver(call, Phase::kConfirm).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kConfirm).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
  EXPECT_EQ(this->Effect(call, Phase::kConfirm), 1);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), 1);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kConfirm), 1);
  EXPECT_EQ(this->Recorded(call),
            (std::vector<Phase>{Phase::kTry, Phase::kConfirm}));
}

TYPED_TEST(BarrierMatrixTest,
           DuplicateTryReturnsTheStoredReplyWithoutRunningTheHandler) {
  const BranchCall call = Call("g1");
  std::string reply;
  ASSERT_EQ(this->Deliver(call, Phase::kTry, &reply).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(reply, ReplyOf(call));
  reply = "stale";
  EXPECT_EQ(this->DeliverWith(
                    call, Phase::kTry,
                    [](auto&, std::string* out) {
                      *out = "a different reply";
                      return absl::OkStatus();
                    },
                    &reply)
                .value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, ReplyOf(call));
  EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), 1);
}

TYPED_TEST(BarrierMatrixTest, ReplyBytesAreStoredExactly) {
  const BranchCall call = Call("g1");
  const std::string binary("\0\xff\x01'\"\\x00 end", 12);
  auto body = [&](auto&, std::string* out) {
    *out = binary;
    return absl::OkStatus();
  };
  ASSERT_EQ(this->DeliverWith(call, Phase::kTry, body).value(),
            BarrierResult::kApplied);
  std::string reply;
  EXPECT_EQ(this->DeliverWith(call, Phase::kTry, body, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, binary);
}

TYPED_TEST(BarrierMatrixTest, TryThenCancelCompensatesOnce) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kDuplicate);
  // A Try re-delivered after its Cancel is a duplicate of the first one.
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 1);
  EXPECT_EQ(this->Recorded(call),
            (std::vector<Phase>{Phase::kTry, Phase::kCancel}));
}

TYPED_TEST(BarrierMatrixTest, CancelBeforeTryIsEmptyAndBlocksTheLateTry) {
  const BranchCall call = Call("g1");
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kEmptyCancel);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kCancel), 0);

  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), 0);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 0);
  // The refusal wrote nothing: it stays refused, and the cancel stays done.
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(this->Deliver(call, Phase::kCancel).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kCancel), 0);
  EXPECT_EQ(this->Recorded(call), std::vector<Phase>{Phase::kCancel});
}

TYPED_TEST(BarrierMatrixTest, ConfirmWithoutTryIsRefusedAndWritesNothing) {
  const BranchCall call = Call("g1");
  absl::StatusOr<BarrierResult> early = this->Deliver(call, Phase::kConfirm);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition)
      << early.status();
  EXPECT_EQ(this->HandlerRuns(call, Phase::kConfirm), 0);
  EXPECT_TRUE(this->Recorded(call).empty());
  // Once the Try is there, the retried Confirm applies.
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(call, Phase::kConfirm).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Effect(call, Phase::kConfirm), 1);
}

TYPED_TEST(BarrierMatrixTest, ConfirmAfterCancelIsRefused) {
  const BranchCall tried = Call("tried");
  ASSERT_EQ(this->Deliver(tried, Phase::kTry).value(), BarrierResult::kApplied);
  ASSERT_EQ(this->Deliver(tried, Phase::kCancel).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(tried, Phase::kConfirm).status().code(),
            absl::StatusCode::kFailedPrecondition);

  const BranchCall never_tried = Call("never-tried");
  ASSERT_EQ(this->Deliver(never_tried, Phase::kCancel).value(),
            BarrierResult::kEmptyCancel);
  EXPECT_EQ(this->Deliver(never_tried, Phase::kConfirm).status().code(),
            absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(this->HandlerRuns(tried, Phase::kConfirm), 0);
  EXPECT_EQ(this->HandlerRuns(never_tried, Phase::kConfirm), 0);
  EXPECT_EQ(this->Recorded(tried),
            (std::vector<Phase>{Phase::kTry, Phase::kCancel}));
}

TYPED_TEST(BarrierMatrixTest, CancelAfterConfirmIsRefused) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  ASSERT_EQ(this->Deliver(call, Phase::kConfirm).value(),
            BarrierResult::kApplied);
  absl::StatusOr<BarrierResult> cancel = this->Deliver(call, Phase::kCancel);
  EXPECT_EQ(cancel.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cancel.status().message().find("already confirmed"),
            absl::string_view::npos)
      << cancel.status();
  EXPECT_EQ(this->HandlerRuns(call, Phase::kCancel), 0);
  EXPECT_EQ(this->Effect(call, Phase::kConfirm), 1);
}

TYPED_TEST(BarrierMatrixTest, BranchesOfOneTransactionAreIndependent) {
  const BranchCall one = Call("g1", "1");
  const BranchCall two = Call("g1", "2");
  EXPECT_EQ(this->Deliver(one, Phase::kCancel).value(),
            BarrierResult::kEmptyCancel);
  EXPECT_EQ(this->Deliver(two, Phase::kTry).value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(two, Phase::kCancel).value(),
            BarrierResult::kApplied);
  EXPECT_EQ(this->Deliver(one, Phase::kTry).value(),
            BarrierResult::kRefusedAfterCancel);
}

TYPED_TEST(BarrierMatrixTest, IdsAreTakenVerbatim) {
  // Concatenation-equal ids, quotes, backslashes, non-ASCII.
  const std::vector<BranchCall> calls = {Call("ab", "c"), Call("a", "bc"),
                                         Call("g'; DROP TABLE x; --", "\\1"),
                                         Call("g\"\xc3\xa9", "1")};
  for (const BranchCall& call : calls) {
    EXPECT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied)
        << call.gid;
  }
  for (const BranchCall& call : calls) {
    EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
              BarrierResult::kDuplicate)
        << call.gid;
    EXPECT_EQ(this->Effect(call, Phase::kTry), 1) << call.gid;
  }
}

TYPED_TEST(BarrierMatrixTest, RejectsEmptyGidOrBranchId) {
  EXPECT_EQ(this->Deliver(Call("", "1"), Phase::kTry).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->Deliver(Call("g1", ""), Phase::kCancel).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->HandlerRuns(Call("", "1"), Phase::kTry), 0);
}

TYPED_TEST(BarrierMatrixTest, RecordsSurviveReopen) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  ASSERT_EQ(this->Deliver(Call("g2"), Phase::kCancel).value(),
            BarrierResult::kEmptyCancel);
  this->Reopen();
  std::string reply;
  EXPECT_EQ(this->Deliver(call, Phase::kTry, &reply).value(),
            BarrierResult::kDuplicate);
  EXPECT_EQ(reply, ReplyOf(call));
  EXPECT_EQ(this->Deliver(Call("g2"), Phase::kTry).value(),
            BarrierResult::kRefusedAfterCancel);
}

// The oracle: the rules of barrier.h for one branch, as a state machine.
class BranchModel {
 public:
  struct Outcome {
    absl::StatusCode code = absl::StatusCode::kOk;
    BarrierResult result = BarrierResult::kDuplicate;
  };

  Outcome Deliver(Phase phase) {
    switch (phase) {
      case Phase::kTry:
        if (tried_) return Ok(BarrierResult::kDuplicate);
        if (cancelled_) return Ok(BarrierResult::kRefusedAfterCancel);
        tried_ = true;
        ++applied_[0];
        return Ok(BarrierResult::kApplied);
      case Phase::kConfirm:
        if (confirmed_) return Ok(BarrierResult::kDuplicate);
        if (cancelled_ || !tried_) return Refused();
        confirmed_ = true;
        ++applied_[1];
        return Ok(BarrierResult::kApplied);
      case Phase::kCancel:
        if (cancelled_) return Ok(BarrierResult::kDuplicate);
        if (confirmed_) return Refused();
        cancelled_ = true;
        if (!tried_) return Ok(BarrierResult::kEmptyCancel);
        ++applied_[2];
        return Ok(BarrierResult::kApplied);
    }
    return Refused();
  }

  int applied(Phase phase) const { return applied_[static_cast<int>(phase)]; }

  std::vector<Phase> recorded() const {
    std::vector<Phase> phases;
    if (tried_) phases.push_back(Phase::kTry);
    if (confirmed_) phases.push_back(Phase::kConfirm);
    if (cancelled_) phases.push_back(Phase::kCancel);
    return phases;
  }

 private:
  static Outcome Ok(BarrierResult result) {
    return {absl::StatusCode::kOk, result};
  }
  static Outcome Refused() {
    return {absl::StatusCode::kFailedPrecondition, BarrierResult::kDuplicate};
  }

  bool tried_ = false, confirmed_ = false, cancelled_ = false;
  int applied_[3] = {0, 0, 0};
};

// Every sequence of 1 to 4 deliveries over {Try, Confirm, Cancel}: 120
// orderings, duplicates and out-of-order deliveries included.
std::vector<std::vector<Phase>> AllSequences() {
  std::vector<std::vector<Phase>> all, frontier = {{}};
  for (int length = 1; length <= 4; ++length) {
    std::vector<std::vector<Phase>> next;
    for (const auto& prefix : frontier) {
      for (Phase phase : {Phase::kTry, Phase::kConfirm, Phase::kCancel}) {
        next.push_back(prefix);
        next.back().push_back(phase);
        all.push_back(next.back());
      }
    }
    frontier = std::move(next);
  }
  return all;
}

TYPED_TEST(BarrierMatrixTest,
           EverySequenceOfUpToFourDeliveriesFollowsTheRules) {
  const std::vector<std::vector<Phase>> sequences = AllSequences();
  ASSERT_EQ(sequences.size(), 120u);
  int index = 0;
  for (const std::vector<Phase>& sequence : sequences) {
    std::vector<std::string> names;
    for (Phase phase : sequence) names.push_back(PhaseName(phase));
    const std::string description = absl::StrJoin(names, ",");
    SCOPED_TRACE(description);
    const BranchCall call = Call(absl::StrCat("seq", index++));
    BranchModel model;
    for (Phase phase : sequence) {
      const BranchModel::Outcome expected = model.Deliver(phase);
      std::string reply;
      absl::StatusOr<BarrierResult> got = this->Deliver(call, phase, &reply);
      ASSERT_EQ(got.status().code(), expected.code) << got.status();
      if (!got.ok()) continue;
      EXPECT_EQ(BarrierResultName(*got), BarrierResultName(expected.result))
          << PhaseName(phase);
      if (phase == Phase::kTry && (*got == BarrierResult::kApplied ||
                                   *got == BarrierResult::kDuplicate)) {
        EXPECT_EQ(reply, ReplyOf(call));
      } else {
        EXPECT_EQ(reply, "");
      }
    }
    for (Phase phase : {Phase::kTry, Phase::kConfirm, Phase::kCancel}) {
      EXPECT_EQ(this->Effect(call, phase), model.applied(phase))
          << PhaseName(phase);
      EXPECT_EQ(this->HandlerRuns(call, phase), model.applied(phase))
          << PhaseName(phase);
    }
    EXPECT_EQ(this->Recorded(call), model.recorded());
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace tcc::participant::barrier_test
