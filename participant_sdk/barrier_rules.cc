#include "barrier_rules.h"

#include "absl/strings/str_cat.h"

namespace tcc::participant::internal {

absl::StatusOr<BarrierStep> NextStep(Phase phase, const BranchRecords& records,
                                     const std::string& branch) {
  switch (phase) {
    case Phase::kTry:
      if (records.tried) return BarrierStep::kDuplicate;
      if (records.cancelled) return BarrierStep::kRefuseTry;
      return BarrierStep::kRunHandler;
    case Phase::kConfirm:
      if (records.confirmed) return BarrierStep::kDuplicate;
      if (records.cancelled) {
        return absl::FailedPreconditionError(
            absl::StrCat("confirm of ", branch,
                         " refused: the branch is already cancelled"));
      }
      if (!records.tried) {
        return absl::FailedPreconditionError(absl::StrCat(
            "confirm of ", branch, " refused: no try is recorded for it"));
      }
      return BarrierStep::kRunHandler;
    case Phase::kCancel:
      if (records.cancelled) return BarrierStep::kDuplicate;
      if (records.confirmed) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cancel of ", branch, " refused: the branch is already confirmed"));
      }
      return records.tried ? BarrierStep::kRunHandler
                           : BarrierStep::kRecordOnly;
  }
  return absl::InternalError("unknown phase");
}

BarrierResult ResultOf(BarrierStep step) {
  switch (step) {
    case BarrierStep::kRunHandler:
      return BarrierResult::kApplied;
    case BarrierStep::kRecordOnly:
      return BarrierResult::kEmptyCancel;
    case BarrierStep::kDuplicate:
      return BarrierResult::kDuplicate;
    case BarrierStep::kRefuseTry:
      return BarrierResult::kRefusedAfterCancel;
  }
  return BarrierResult::kDuplicate;
}

}  // namespace tcc::participant::internal
