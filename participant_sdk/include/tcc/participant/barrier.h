#ifndef TCC_PARTICIPANT_BARRIER_H_
#define TCC_PARTICIPANT_BARRIER_H_

#include <string>
#include <string_view>
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

// The barrier rules every store applies to one branch (gid, branch_id).
//
// Try:
//   first delivery          -> try_fn runs; kApplied
//   Try already recorded    -> not run; kDuplicate with the stored reply
//   Cancel already recorded -> not run; kRefusedAfterCancel (anti-hanging)
// Confirm:
//   Try recorded, no Confirm yet -> confirm_fn runs; kApplied
//   Confirm already recorded     -> not run; kDuplicate
//   Cancel recorded, or no Try   -> not run, nothing written;
//                                   FAILED_PRECONDITION
// Cancel:
//   Try recorded, no Cancel yet -> cancel_fn runs; kApplied
//   no Try recorded             -> not run; the Cancel is recorded so that a
//                                  late Try is refused; kEmptyCancel
//   Cancel already recorded     -> not run; kDuplicate
//   Confirm recorded            -> not run, nothing written;
//                                  FAILED_PRECONDITION
//
// A record commits in the same local transaction as the handler's business
// writes, so both commit or neither does: a handler that fails (non-OK
// status, exception, process crash) leaves neither, and the next delivery is
// treated as the first. Concurrent requests for one branch are serialised by
// the store's row locks, so whatever the interleaving each handler runs at
// most once per branch. Confirm and Cancel exclude each other: the
// coordinator never sends both for one branch, and should it happen the
// first one wins and the other is refused with FAILED_PRECONDITION, which
// the coordinator retries (and shows as stuck) rather than undoing an
// effect. A Confirm without a Try is refused the same way.

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

// Named points at which a store's `sync_point` test hook is called, in this
// order, by every Run(). For tests that order concurrent requests without
// sleeping.
// Before the first lock of the branch is requested.
inline constexpr std::string_view kSyncPointBeforeLock =
    "BarrierStore::Run:BeforeLock";
// Once the branch's records are locked and read, before the handler runs.
inline constexpr std::string_view kSyncPointLocked = "BarrierStore::Run:Locked";
// After a successful commit (not reached by calls that wrote nothing). With
// RocksDbBarrierStore the commit is visible here but on disk only once the
// store's group sync (AfterSync) has run.
inline constexpr std::string_view kSyncPointCommitted =
    "BarrierStore::Run:Committed";

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_BARRIER_H_
