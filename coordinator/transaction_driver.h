#ifndef TCC_COORDINATOR_TRANSACTION_DRIVER_H_
#define TCC_COORDINATOR_TRANSACTION_DRIVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/participant_pool.h"
#include "coordinator/proto/log_record.pb.h"
#include "coordinator/transaction_log.h"
#include "tcc/common/clock.h"
#include "tcc/common/retry_policy.h"
#include "tcc/common/scheduler.h"

namespace tcc::coordinator {

class TransactionDriver;

// Everything a driver needs from the coordinator. Owned by the Coordinator,
// outlives every driver.
struct DriverContext {
  TransactionLog* log = nullptr;
  ParticipantPool* pool = nullptr;
  Scheduler* scheduler = nullptr;
  Clock* clock = nullptr;
  RetryPolicy* retry = nullptr;
  // Runs decision callbacks, outside every driver lock.
  Executor* executor = nullptr;
  // Deadline of every participant call.
  absl::Duration call_deadline = absl::Seconds(3);
  // Set when the coordinator stops: drivers send no new participant calls
  // and leave unfinished work to recovery on the next start.
  std::atomic<bool>* stopping = nullptr;
  // Called when the driver is done with its transaction (final and
  // recorded, or abandoned because its gid belongs to another transaction):
  // the registry forgets it.
  std::function<void(const TransactionDriver* driver)> on_done;
};

// Answer to whoever waits for the decision: OK with the stored record once
// the decision is durable, or the error that prevented an answer.
using DecisionCallback =
    absl::AnyInvocable<void(const absl::Status&,
                            const internal::StoredTransaction&) &&>;

// Drives one transaction through its state machine:
//
//   TRYING --all Tries OK--> CONFIRMING --all Confirms OK--> CONFIRMED
//   TRYING --refusal/unknown/timeout--> CANCELLING --all Cancels OK-->
//   CANCELLED
//
// It holds the transaction's record in memory only as a copy of what it
// writes: every state change is first written to the TransactionLog (a
// check-and-set on the version it last wrote), and the decision is durable
// before any Confirm/Cancel is sent and before any waiter hears it.
// Confirm/Cancel are retried with the RetryPolicy until they answer OK.
//
// Created and owned (through shared_ptr) by the Coordinator's registry; every
// callback keeps the driver alive. Thread-safe; no method blocks.
class TransactionDriver
    : public std::enable_shared_from_this<TransactionDriver> {
 public:
  TransactionDriver(DriverContext* context, internal::StoredTransaction record);

  // Writes the new transaction (version 0 -> 1), then sends every Try.
  // `on_decided` runs once the decision is durable. If the gid already
  // exists, the stored transaction is adopted when it has the same content
  // (and resumed if unfinished) or ALREADY_EXISTS is answered.
  void Create(DecisionCallback on_decided);

  // Takes over a transaction read from the log (recovery): a TRYING one is
  // cancelled (its Try phase has nobody to finish it), a decided one is
  // driven to its end.
  void Resume();
  // Resume() from `fresh`, the record as read from the log after this driver
  // was registered (so no other driver can have moved it since).
  void ResumeFrom(internal::StoredTransaction fresh);

  // Another Execute for the same gid. Answers ALREADY_EXISTS if `request`
  // differs from this transaction, otherwise the decision once made.
  void Attach(const internal::StoredTransaction& request,
              DecisionCallback on_decided);

  const std::string& gid() const { return gid_; }

 private:
  // A participant call decided under the lock and sent after releasing it
  // (a call may complete inline).
  struct Outgoing {
    int index;
    BranchPhase phase;
    v1::BranchRequest request;
    std::string participant;
  };
  void Send(std::vector<Outgoing> calls, const Metadata& metadata);

  using WriteDone =
      absl::AnyInvocable<void(const absl::Status&,
                              const internal::StoredTransaction*) &&>;

  void Persist(bool sync, WriteDone done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IssueWrite(bool sync, std::vector<WriteDone> dones)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnWriteDone(const absl::Status& status,
                   const internal::StoredTransaction* current,
                   std::vector<WriteDone> dones);

  void OnCreated(const absl::Status& status,
                 const internal::StoredTransaction* current);
  void ResumeLocked(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartTryPhase(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnTryReply(int index, const grpc::Status& status,
                  v1::BranchResponse&& response);
  void OnDeadline();
  void Decide(bool commit, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteDecision() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDecisionWritten(const absl::Status& status);
  void StartPhaseTwo(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Outgoing PhaseTwoCall(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnPhaseTwoReply(int index, const grpc::Status& status);
  void RetryBranch(int index);
  void Finish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyWaiters(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  bool Committing() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Metadata CallMetadata() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::BranchRequest BranchRequestFor(int index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowMs() const;

  DriverContext* const context_;
  const std::string gid_;

  absl::Mutex mu_;
  internal::StoredTransaction record_ ABSL_GUARDED_BY(mu_);
  // Decision-waiters (Execute calls) not yet answered.
  std::vector<DecisionCallback> waiters_ ABSL_GUARDED_BY(mu_);
  bool decided_ ABSL_GUARDED_BY(mu_) = false;           // in memory
  bool decision_durable_ ABSL_GUARDED_BY(mu_) = false;  // on disk
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  int tries_pending_ ABSL_GUARDED_BY(mu_) = 0;
  int phase_two_pending_ ABSL_GUARDED_BY(mu_) = 0;
  int decision_write_failures_ ABSL_GUARDED_BY(mu_) = 0;
  // Coalesced writes: at most one in flight, the next one carries the latest
  // record and every callback that asked meanwhile.
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool queued_sync_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<WriteDone> queued_dones_ ABSL_GUARDED_BY(mu_);
};

// True when `a` and `b` describe the same transaction content (mode,
// branches, metadata): what a resubmitted gid must match.
bool SameContent(const internal::StoredTransaction& a,
                 const internal::StoredTransaction& b);

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_TRANSACTION_DRIVER_H_
