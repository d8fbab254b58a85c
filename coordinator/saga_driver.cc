#include "coordinator/saga_driver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/failpoints.h"
#include "tcc/common/grpc_status.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {

using internal::StoredTransaction;

namespace {

bool Started(const v1::Branch& b) {
  return b.state() != v1::BRANCH_WAITING &&
         b.state() != v1::BRANCH_STATE_UNSPECIFIED;
}

}  // namespace

bool SagaDriver::AnswerReadyLocked() const { return decision_durable_; }

void SagaDriver::StartLocked(std::vector<Outgoing>* out) {
  // The creating write already marked step 1 started.
  ScheduleDeadline();
  const v1::Branch& first = record_.txn().branches(0);
  out->push_back(MakeCall(0, BranchPhase::kTry, first.action()));
}

void SagaDriver::ResumeLocked(std::vector<Outgoing>* out) {
  const v1::Transaction& txn = record_.txn();
  if (txn.state() == v1::COMPENSATING) {
    decided_ = decision_durable_ = true;
    CompensateNext(out);
    return;
  }
  // RUNNING: the step marked started may or may not have run. Its outcome is
  // unknown, so it is retried forward (the barrier makes a repeat harmless),
  // unless the saga's time is up.
  if (context_->clock->Now() >= Deadline()) {
    Compensate("saga timed out (coordinator restarted)");
    return;
  }
  ScheduleDeadline();
  for (int i = 0; i < txn.branches_size(); ++i) {
    const v1::Branch& b = txn.branches(i);
    if (b.state() == v1::BRANCH_TRIED) continue;
    if (!Started(b)) break;
    v1::Branch* step = record_.mutable_txn()->mutable_branches(i);
    step->set_attempts(step->attempts() + 1);
    out->push_back(MakeCall(i, BranchPhase::kTry, b.action()));
    return;
  }
  // Every started step succeeded but SUCCEEDED was not recorded.
  Succeed();
}

void SagaDriver::OnReply(int index, BranchPhase phase,
                         const grpc::Status& status,
                         v1::BranchResponse&& response) {
  if (phase == BranchPhase::kTry) {
    OnStepReply(index, status, std::move(response));
  } else {
    OnCompensationReply(index, status);
  }
}

// ---- Forward
// -----------------------------------------------------------------

void SagaDriver::OnStepReply(int index, const grpc::Status& status,
                             v1::BranchResponse&& response) {
  Lock lock(this);
  if (decided_) return;  // the deadline already decided to compensate
  v1::Transaction* txn = record_.mutable_txn();
  v1::Branch* step = txn->mutable_branches(index);
  switch (ClassifyStatus(status.error_code())) {
    case CallOutcome::kOk: {
      step->set_state(v1::BRANCH_TRIED);
      step->set_try_reply(std::move(*response.mutable_payload()));
      step->clear_last_error();
      step->set_next_attempt_unix_ms(0);
      if (index + 1 == txn->branches_size()) {
        Succeed();
        return;
      }
      // Mark the next step started, durably, before sending it.
      v1::Branch* next = txn->mutable_branches(index + 1);
      next->set_state(v1::BRANCH_PENDING);
      next->set_attempts(1);
      Persist(true, [self = shared_from_this(), index](
                        const absl::Status& s, const StoredTransaction*) {
        static_cast<SagaDriver*>(self.get())->StepDurable(index + 1, s);
      });
      return;
    }
    case CallOutcome::kRefused:
      step->set_state(v1::BRANCH_REFUSED);
      step->set_last_error(DescribeStatus(status));
      Compensate(absl::StrCat("step ", step->branch_id(), " (",
                              step->participant(), "/", step->action(),
                              ") refused: ", status.error_message()));
      return;
    case CallOutcome::kUnknown: {
      step->set_last_error(DescribeStatus(status));
      absl::Duration delay = context_->retry->DelayAfter(step->attempts());
      absl::Time next = context_->clock->Now() + delay;
      if (next >= Deadline()) {
        step->set_state(v1::BRANCH_TRY_UNKNOWN);
        Compensate(absl::StrCat("step ", step->branch_id(), " (",
                                step->participant(), "/", step->action(),
                                ") outcome still unknown at the deadline: ",
                                DescribeStatus(status)));
        return;
      }
      step->set_next_attempt_unix_ms(ToUnixMs(next));
      Persist(false, [](const absl::Status&, const StoredTransaction*) {});
      context_->scheduler->RunAt(next, [self = shared_from_this(), index] {
        static_cast<SagaDriver*>(self.get())->RetryStep(index);
      });
      return;
    }
  }
}

void SagaDriver::StepDurable(int index, const absl::Status& status) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    if (decided_) return;
    if (!status.ok()) {
      // Not durably started: it is not sent. Compensate what ran.
      record_.mutable_txn()->mutable_branches(index)->set_state(
          v1::BRANCH_WAITING);
      Compensate(absl::StrCat("could not record the start of step ", index + 1,
                              ": ", status.message()));
      return;
    }
    const v1::Branch& b = record_.txn().branches(index);
    out.push_back(MakeCall(index, BranchPhase::kTry, b.action()));
  }
  Send(std::move(out));
}

void SagaDriver::RetryStep(int index) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    if (decided_) return;
    v1::Branch* b = record_.mutable_txn()->mutable_branches(index);
    b->set_attempts(b->attempts() + 1);
    out.push_back(MakeCall(index, BranchPhase::kTry, b->action()));
  }
  Send(std::move(out));
}

void SagaDriver::OnDeadline() {
  Lock lock(this);
  if (decided_) return;
  Compensate("saga timed out");
}

void SagaDriver::Succeed() {
  decided_ = true;
  v1::Transaction* txn = record_.mutable_txn();
  txn->set_state(v1::SUCCEEDED);
  txn->set_outcome(v1::COMMITTED);
  txn->set_finish_unix_ms(NowMs());
  // Synced: the caller is told COMMITTED once it is durable.
  WriteDecision();
}

void SagaDriver::Compensate(std::string reason) {
  decided_ = true;
  v1::Transaction* txn = record_.mutable_txn();
  txn->set_state(v1::COMPENSATING);
  txn->set_outcome(v1::ROLLED_BACK);
  txn->set_reason(std::move(reason));
  for (v1::Branch& b : *txn->mutable_branches()) b.set_next_attempt_unix_ms(0);
  TCC_FAILPOINT("before_decision_write");
  WriteDecision();
}

void SagaDriver::WriteDecision() {
  Persist(true, [self = shared_from_this()](const absl::Status& status,
                                            const StoredTransaction*) {
    static_cast<SagaDriver*>(self.get())->OnDecisionWritten(status);
  });
}

void SagaDriver::OnDecisionWritten(const absl::Status& status) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    if (!status.ok()) {
      if (status.code() == absl::StatusCode::kFailedPrecondition) {
        LogError("saga ", gid_, ": decision not written: ", status.message());
        NotifyWaiters(absl::InternalError(
            absl::StrCat("saga ", gid_, " was changed concurrently")));
        Done();
        return;
      }
      ++decision_write_failures_;
      absl::Duration delay =
          context_->retry->DelayAfter(decision_write_failures_);
      LogWarning("saga ", gid_, ": decision write failed (", status.message(),
                 "), retrying in ", absl::FormatDuration(delay));
      context_->scheduler->RunAfter(delay, [self = shared_from_this()] {
        auto* driver = static_cast<SagaDriver*>(self.get());
        Lock lock(driver);
        driver->WriteDecision();
      });
      return;
    }
    decision_durable_ = true;
    TCC_FAILPOINT("after_decision_write");
    NotifyWaiters(absl::OkStatus());
    if (record_.txn().state() == v1::SUCCEEDED) {
      Done();
      return;
    }
    CompensateNext(&out);
  }
  SendAfterAnswers(std::move(out));
}

// ---- Compensation
// --------------------------------------------------------------

SagaDriver::Outgoing SagaDriver::CompensationCall(int index) {
  v1::Branch* b = record_.mutable_txn()->mutable_branches(index);
  b->set_attempts(b->attempts() + 1);
  return MakeCall(index, BranchPhase::kCancel,
                  b->compensation().empty() ? b->action() : b->compensation());
}

void SagaDriver::CompensateNext(std::vector<Outgoing>* out) {
  const v1::Transaction& txn = record_.txn();
  for (int i = txn.branches_size() - 1; i >= 0; --i) {
    const v1::Branch& b = txn.branches(i);
    if (!Started(b) || b.state() == v1::BRANCH_CANCELLED) continue;
    record_.mutable_txn()->mutable_branches(i)->set_attempts(0);
    out->push_back(CompensationCall(i));
    return;
  }
  record_.mutable_txn()->set_state(v1::COMPENSATED);
  WriteFinal();
}

void SagaDriver::OnCompensationReply(int index, const grpc::Status& status) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    v1::Branch* b = record_.mutable_txn()->mutable_branches(index);
    if (ClassifyStatus(status.error_code()) == CallOutcome::kOk) {
      b->set_state(v1::BRANCH_CANCELLED);
      b->clear_last_error();
      b->set_next_attempt_unix_ms(0);
      // Not synced: a compensation lost to a crash is repeated (it is
      // idempotent) before the earlier steps', so the order holds.
      Persist(false, [](const absl::Status&, const StoredTransaction*) {});
      CompensateNext(&out);
    } else {
      absl::Duration delay = context_->retry->DelayAfter(b->attempts());
      absl::Time next = context_->clock->Now() + delay;
      b->set_last_error(DescribeStatus(status));
      b->set_next_attempt_unix_ms(ToUnixMs(next));
      Persist(false, [](const absl::Status&, const StoredTransaction*) {});
      context_->scheduler->RunAt(next, [self = shared_from_this(), index] {
        static_cast<SagaDriver*>(self.get())->RetryCompensation(index);
      });
    }
  }
  Send(std::move(out));
}

void SagaDriver::RetryCompensation(int index) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    out.push_back(CompensationCall(index));
  }
  Send(std::move(out));
}

}  // namespace tcc::coordinator
