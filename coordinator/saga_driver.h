#ifndef TCC_COORDINATOR_SAGA_DRIVER_H_
#define TCC_COORDINATOR_SAGA_DRIVER_H_

#include <string>
#include <vector>

#include "coordinator/driver_base.h"

namespace tcc::coordinator {

// Drives one saga:
//
//   RUNNING --every step OK--> SUCCEEDED
//   RUNNING --refusal, or unknown until the timeout--> COMPENSATING -->
//   COMPENSATED
//
// Step k (Participant.Try with the step's action) is sent only after step
// k-1 answered OK, and only once the write marking it started is durable, so
// a restart knows exactly which steps may have run. A step whose outcome is
// unknown is retried forward with the RetryPolicy until it answers or the
// saga's deadline passes. Compensation (Participant.Cancel with the step's
// compensation) runs over every started step, the failed one included, in
// strict reverse order: step k-1 only after step k's compensation answered
// OK; each is retried until it does.
class SagaDriver final : public DriverBase {
 public:
  using DriverBase::DriverBase;

 private:
  void StartLocked(std::vector<Outgoing>* out) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResumeLocked(std::vector<Outgoing>* out) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AnswerReadyLocked() const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnReply(int index, BranchPhase phase, const grpc::Status& status,
               v1::BranchResponse&& response) override;

  void OnDeadline() override;
  void OnStepReply(int index, const grpc::Status& status,
                   v1::BranchResponse&& response);
  void StepDurable(int index, const absl::Status& status);
  void RetryStep(int index);
  void Succeed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Compensate(std::string reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteDecision() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDecisionWritten(const absl::Status& status);
  // The next compensation to send (highest started step not yet
  // compensated), or none left: COMPENSATED.
  void CompensateNext(std::vector<Outgoing>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnCompensationReply(int index, const grpc::Status& status);
  void RetryCompensation(int index);
  Outgoing CompensationCall(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  bool decided_ ABSL_GUARDED_BY(mu_) = false;
  bool decision_durable_ ABSL_GUARDED_BY(mu_) = false;
  int decision_write_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_SAGA_DRIVER_H_
