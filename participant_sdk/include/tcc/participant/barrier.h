#ifndef TCC_PARTICIPANT_BARRIER_H_
#define TCC_PARTICIPANT_BARRIER_H_

#include <string>
#include <utility>
#include <vector>

namespace tcc::participant {

// The three phases of a TCC branch. Together with (gid, branch_id) a phase
// keys one barrier record.
enum class Phase { kTry, kConfirm, kCancel };

// "try", "confirm" or "cancel".
const char* PhaseName(Phase phase);

// One phase request of one branch, as handed to a handler. A plain value: the
// SDK copies it out of the gRPC request, so a handler may keep it as long as
// it likes.
struct BranchCall {
  // Global transaction id. Never empty when a handler sees it.
  std::string gid;
  // Branch id, unique within `gid`. Never empty when a handler sees it.
  std::string branch_id;
  // The registered action (resource name) the branch addresses.
  std::string action;
  // Opaque application payload; identical for Try, Confirm and Cancel.
  std::string payload;
  // The transaction's metadata (for example a trace id): the gRPC client
  // metadata of the call, in arrival order, without transport keys (those
  // starting with "grpc-" or ':', "user-agent", "content-type", "te").
  std::vector<std::pair<std::string, std::string>> metadata;
};

// What the barrier did with a request whose Run() succeeded.
enum class BarrierResult {
  // First time this (gid, branch_id, phase): the handler ran and its writes
  // were committed together with the barrier record.
  kApplied,
  // Already done before: the handler was not run; nothing was written. For
  // Try the reply stored with the first Try is returned.
  kDuplicate,
  // A Cancel with no Try before it: the handler was not run; the cancel
  // record was written so that a late Try is refused.
  kEmptyCancel,
  // A Try that arrived after its Cancel (a "hanging" Try): the handler was
  // not run; nothing was written.
  kRefusedAfterCancel,
};

// "applied", "duplicate", "empty_cancel" or "refused_after_cancel".
const char* BarrierResultName(BarrierResult result);

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_BARRIER_H_
