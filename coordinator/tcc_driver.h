#ifndef TCC_COORDINATOR_TCC_DRIVER_H_
#define TCC_COORDINATOR_TCC_DRIVER_H_

#include <map>
#include <string>
#include <vector>

#include "coordinator/driver_base.h"

namespace tcc::coordinator {

// Answer to an interactive Try: OK with the branch's outcome, or the
// coordinator's error (FAILED_PRECONDITION after a decision, ...).
using TryCallback =
    absl::AnyInvocable<void(const absl::Status&, v1::TryResponse) &&>;

// Drives one TCC transaction, one-shot (Execute) or interactive (Begin, Try,
// Commit, Rollback):
//
//   TRYING --all Tries OK--> CONFIRMING --all Confirms OK--> CONFIRMED
//   TRYING --refusal/unknown/timeout/rollback--> CANCELLING --> CANCELLED
//
// The decision is durable before any Confirm/Cancel is sent and before any
// caller hears it; Confirm/Cancel are retried with the RetryPolicy until they
// answer OK, visibly (attempts, last error, next attempt).
class TccDriver final : public DriverBase {
 public:
  using DriverBase::DriverBase;

  // Interactive: records a new branch durably, then calls its Try and answers
  // with the participant's reply. FAILED_PRECONDITION once decided.
  void AddBranch(const v1::BranchSpec& spec, int max_branches,
                 TryCallback done);
  // Interactive: decides (commit if every Try succeeded, else roll back);
  // `done` runs once the decision is durable. FAILED_PRECONDITION while a
  // Try is in flight or after a rollback.
  void Commit(DecisionCallback done);
  // Interactive: decides to roll back. FAILED_PRECONDITION after a commit.
  void Rollback(DecisionCallback done);

 private:
  void StartLocked(std::vector<Outgoing>* out) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResumeLocked(std::vector<Outgoing>* out) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AnswerReadyLocked() const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnReply(int index, BranchPhase phase, const grpc::Status& status,
               v1::BranchResponse&& response) override;

  void OnTryReply(int index, const grpc::Status& status,
                  v1::BranchResponse&& response);
  void OnDeadline() override;
  void Decide(bool commit, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteDecision() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDecisionWritten(const absl::Status& status);
  void AnswerDecisionWaiters(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartPhaseTwo(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Outgoing PhaseTwoCall(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnPhaseTwoReply(int index, const grpc::Status& status);
  void RetryBranch(int index);
  void Finish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Committing() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Interactive() const { return mode_ == v1::MODE_INTERACTIVE; }

  bool decided_ ABSL_GUARDED_BY(mu_) = false;           // in memory
  bool decision_durable_ ABSL_GUARDED_BY(mu_) = false;  // on disk
  bool created_ ABSL_GUARDED_BY(mu_) = false;           // interactive Begin
  int tries_pending_ ABSL_GUARDED_BY(mu_) = 0;
  int phase_two_pending_ ABSL_GUARDED_BY(mu_) = 0;
  int decision_write_failures_ ABSL_GUARDED_BY(mu_) = 0;
  // Interactive Commit/Rollback calls waiting for the durable decision.
  std::vector<DecisionCallback> decision_waiters_ ABSL_GUARDED_BY(mu_);
  // Interactive Try calls waiting for their participant, by branch index.
  std::map<int, TryCallback> try_waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_TCC_DRIVER_H_
