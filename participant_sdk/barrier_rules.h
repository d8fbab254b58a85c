#ifndef TCC_PARTICIPANT_BARRIER_RULES_H_
#define TCC_PARTICIPANT_BARRIER_RULES_H_

#include <string>

#include "absl/status/statusor.h"
#include "tcc/participant/barrier.h"

// The barrier rules of barrier.h as one function, shared by every store so
// that they cannot drift apart. Not API.
namespace tcc::participant::internal {

// What a store has recorded for one branch, read while the branch is locked.
struct BranchRecords {
  bool tried = false;      // A Try committed (its handler ran).
  bool confirmed = false;  // A Confirm committed.
  bool cancelled = false;  // A Cancel committed, empty or not.
};

// What a store must do with one request.
enum class BarrierStep {
  kRunHandler,  // Run the handler and write the phase's record: kApplied.
  kRecordOnly,  // Write the record without running the handler: kEmptyCancel.
  kDuplicate,   // Write nothing: kDuplicate.
  kRefuseTry,   // Write nothing: kRefusedAfterCancel.
};

// The step for `phase` given `records`. Errors: FAILED_PRECONDITION (write
// nothing) for a Confirm without a Try or after a Cancel, and for a Cancel
// after a Confirm; `branch` ("gid/branch_id") names the branch in the message.
absl::StatusOr<BarrierStep> NextStep(Phase phase, const BranchRecords& records,
                                     const std::string& branch);

// The result a successful step answers (kApplied for kRunHandler, ...).
BarrierResult ResultOf(BarrierStep step);

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_BARRIER_RULES_H_
