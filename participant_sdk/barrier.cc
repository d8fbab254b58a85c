#include "tcc/participant/barrier.h"

namespace tcc::participant {

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kTry:
      return "try";
    case Phase::kConfirm:
      return "confirm";
    case Phase::kCancel:
      return "cancel";
  }
  return "?";
}

const char* BarrierResultName(BarrierResult result) {
  switch (result) {
    case BarrierResult::kApplied:
      return "applied";
    case BarrierResult::kDuplicate:
      return "duplicate";
    case BarrierResult::kEmptyCancel:
      return "empty_cancel";
    case BarrierResult::kRefusedAfterCancel:
      return "refused_after_cancel";
  }
  return "?";
}

}  // namespace tcc::participant
