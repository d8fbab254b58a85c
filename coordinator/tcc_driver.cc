#include "coordinator/tcc_driver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/failpoints.h"
#include "tcc/common/grpc_status.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {

using internal::StoredTransaction;

bool TccDriver::Committing() const {
  return record_.txn().outcome() == v1::COMMITTED;
}

bool TccDriver::AnswerReadyLocked() const {
  return Interactive() ? created_ : decision_durable_;
}

// ---- Start / resume
// ----------------------------------------------------------

void TccDriver::StartLocked(std::vector<Outgoing>* out) {
  ScheduleDeadline();
  if (Interactive()) {
    created_ = true;
    NotifyWaiters(absl::OkStatus());  // Begin's answer
    return;
  }
  v1::Transaction* txn = record_.mutable_txn();
  tries_pending_ = txn->branches_size();
  for (int i = 0; i < txn->branches_size(); ++i) {
    txn->mutable_branches(i)->set_attempts(1);
    out->push_back(MakeCall(i, BranchPhase::kTry, txn->branches(i).action()));
  }
}

void TccDriver::ResumeLocked(std::vector<Outgoing>* out) {
  v1::Transaction* txn = record_.mutable_txn();
  if (txn->state() == v1::TRYING) {
    if (!Interactive()) {
      // Nobody can finish this Try phase: the Execute call that owned it
      // died with the previous process. Cancel reaches every branch whose
      // Try may have been sent.
      Decide(false, "coordinator restarted during the Try phase");
      return;
    }
    // Interactive: the application may still Commit before the deadline. A
    // Try that was in flight at the crash has an unknown outcome.
    created_ = true;
    for (v1::Branch& b : *txn->mutable_branches()) {
      if (b.state() == v1::BRANCH_PENDING) {
        b.set_state(v1::BRANCH_TRY_UNKNOWN);
        b.set_last_error("coordinator restarted while the Try was in flight");
      }
    }
    if (context_->clock->Now() >= Deadline()) {
      Decide(false, "timed out before commit");
    } else {
      ScheduleDeadline();
    }
    return;
  }
  decided_ = decision_durable_ = created_ = true;
  StartPhaseTwo(out);
}

// ---- Try phase
// ---------------------------------------------------------------

void TccDriver::OnReply(int index, BranchPhase phase,
                        const grpc::Status& status,
                        v1::BranchResponse&& response) {
  if (phase == BranchPhase::kTry) {
    OnTryReply(index, status, std::move(response));
  } else {
    OnPhaseTwoReply(index, status);
  }
}

void TccDriver::OnTryReply(int index, const grpc::Status& status,
                           v1::BranchResponse&& response) {
  Lock lock(this);
  v1::Branch* branch = record_.mutable_txn()->mutable_branches(index);
  const CallOutcome outcome = ClassifyStatus(status.error_code());
  if (Interactive()) {
    auto waiter = try_waiters_.find(index);
    if (!decided_) {
      --tries_pending_;
      branch->set_state(outcome == CallOutcome::kOk ? v1::BRANCH_TRIED
                        : outcome == CallOutcome::kRefused
                            ? v1::BRANCH_REFUSED
                            : v1::BRANCH_TRY_UNKNOWN);
      if (outcome == CallOutcome::kOk) {
        branch->set_try_reply(response.payload());
      } else {
        branch->set_last_error(DescribeStatus(status));
      }
      // Not synced: a lost Try result reads as "unknown" after a crash,
      // which can only turn a Commit into a rollback.
      Persist(false, [](const absl::Status&, const StoredTransaction*) {});
    }
    if (waiter != try_waiters_.end()) {
      v1::TryResponse reply;
      reply.set_gid(gid_);
      reply.set_branch_id(branch->branch_id());
      reply.set_state(branch->state());
      reply.set_payload(std::move(*response.mutable_payload()));
      if (outcome != CallOutcome::kOk) reply.set_error(DescribeStatus(status));
      context_->executor->Schedule(
          [cb = std::move(waiter->second), reply = std::move(reply)]() mutable {
            std::move(cb)(absl::OkStatus(), std::move(reply));
          });
      try_waiters_.erase(waiter);
    }
    return;
  }
  if (decided_) return;  // a refusal or the deadline already decided
  --tries_pending_;
  switch (outcome) {
    case CallOutcome::kOk:
      branch->set_state(v1::BRANCH_TRIED);
      branch->set_try_reply(std::move(*response.mutable_payload()));
      if (tries_pending_ == 0) Decide(true, "");
      return;
    case CallOutcome::kRefused:
      branch->set_state(v1::BRANCH_REFUSED);
      branch->set_last_error(DescribeStatus(status));
      Decide(false, absl::StrCat("branch ", branch->branch_id(), " (",
                                 branch->participant(), "/", branch->action(),
                                 ") refused: ", status.error_message()));
      return;
    case CallOutcome::kUnknown:
      branch->set_state(v1::BRANCH_TRY_UNKNOWN);
      branch->set_last_error(DescribeStatus(status));
      Decide(false,
             absl::StrCat("branch ", branch->branch_id(), " (",
                          branch->participant(), "/", branch->action(),
                          ") Try outcome unknown: ", DescribeStatus(status)));
      return;
  }
}

void TccDriver::OnDeadline() {
  Lock lock(this);
  if (decided_) return;
  Decide(false,
         Interactive() ? "timed out before commit" : "Try phase timed out");
}

// ---- Interactive calls
// ---------------------------------------------------------

void TccDriver::AddBranch(const v1::BranchSpec& spec, int max_branches,
                          TryCallback done) {
  Lock lock(this);
  auto fail = [&](absl::Status status) {
    context_->executor->Schedule(
        [cb = std::move(done), status = std::move(status)]() mutable {
          std::move(cb)(status, v1::TryResponse());
        });
  };
  if (!Interactive()) {
    fail(absl::InvalidArgumentError(
        absl::StrCat("transaction ", gid_, " is not interactive (",
                     v1::TransactionMode_Name(mode_), "); Try needs Begin")));
    return;
  }
  if (decided_) {
    fail(absl::FailedPreconditionError(
        absl::StrCat("transaction ", gid_, " is already decided (",
                     v1::Outcome_Name(record_.txn().outcome()),
                     "); no branch can be added")));
    return;
  }
  v1::Transaction* txn = record_.mutable_txn();
  if (txn->branches_size() >= max_branches) {
    fail(absl::InvalidArgumentError(absl::StrCat(
        "transaction ", gid_, " already has ", txn->branches_size(),
        " branches; at most ", max_branches, " allowed")));
    return;
  }
  const int index = txn->branches_size();
  v1::Branch* b = txn->add_branches();
  b->set_branch_id(absl::StrCat(index + 1));
  b->set_participant(spec.participant());
  b->set_action(spec.action());
  b->set_payload(spec.payload());
  b->set_state(v1::BRANCH_PENDING);
  b->set_attempts(1);
  ++tries_pending_;
  try_waiters_.emplace(index, std::move(done));
  // The branch is durable before its Try is sent.
  Persist(true, [self = shared_from_this(), index](const absl::Status& status,
                                                   const StoredTransaction*) {
    auto* driver = static_cast<TccDriver*>(self.get());
    std::vector<Outgoing> out;
    {
      Lock lock(driver);
      if (!status.ok()) {
        driver->record_.mutable_txn()->mutable_branches(index)->set_state(
            v1::BRANCH_TRY_UNKNOWN);
        --driver->tries_pending_;
        auto w = driver->try_waiters_.find(index);
        if (w != driver->try_waiters_.end()) {
          driver->context_->executor->Schedule(
              [cb = std::move(w->second), status]() mutable {
                std::move(cb)(
                    absl::UnavailableError(absl::StrCat(
                        "could not record the branch: ", status.message())),
                    v1::TryResponse());
              });
          driver->try_waiters_.erase(w);
        }
        return;
      }
      const v1::Branch& br = driver->record_.txn().branches(index);
      out.push_back(driver->MakeCall(index, BranchPhase::kTry, br.action()));
    }
    driver->Send(std::move(out));
  });
}

void TccDriver::Commit(DecisionCallback done) {
  Lock lock(this);
  auto fail = [&](absl::Status status) {
    context_->executor->Schedule(
        [cb = std::move(done), status = std::move(status)]() mutable {
          std::move(cb)(status, StoredTransaction());
        });
  };
  if (decided_) {
    if (!Committing()) {
      fail(absl::FailedPreconditionError(
          absl::StrCat("transaction ", gid_, " was rolled back (",
                       record_.txn().reason(), "); it cannot commit")));
      return;
    }
    decision_waiters_.push_back(std::move(done));
    if (decision_durable_) AnswerDecisionWaiters(absl::OkStatus());
    return;
  }
  if (tries_pending_ > 0) {
    fail(absl::FailedPreconditionError(
        absl::StrCat("transaction ", gid_, " has ", tries_pending_,
                     " Try call(s) in flight; wait for them first")));
    return;
  }
  decision_waiters_.push_back(std::move(done));
  for (const v1::Branch& b : record_.txn().branches()) {
    if (b.state() != v1::BRANCH_TRIED) {
      Decide(false, absl::StrCat("commit requested but branch ", b.branch_id(),
                                 " (", b.participant(), "/", b.action(),
                                 ") did not try successfully: ",
                                 v1::BranchState_Name(b.state())));
      return;
    }
  }
  Decide(true, "");
}

void TccDriver::Rollback(DecisionCallback done) {
  Lock lock(this);
  if (decided_ && Committing()) {
    context_->executor->Schedule([cb = std::move(done), gid = gid_]() mutable {
      std::move(cb)(absl::FailedPreconditionError(
                        absl::StrCat("transaction ", gid,
                                     " is committed; it cannot roll "
                                     "back")),
                    StoredTransaction());
    });
    return;
  }
  decision_waiters_.push_back(std::move(done));
  if (decided_) {
    if (decision_durable_) AnswerDecisionWaiters(absl::OkStatus());
    return;
  }
  Decide(false, "rolled back by the application");
}

void TccDriver::AnswerDecisionWaiters(const absl::Status& status) {
  for (auto& waiter : decision_waiters_) {
    context_->executor->Schedule(
        [cb = std::move(waiter), status, record = record_]() mutable {
          std::move(cb)(status, std::move(record));
        });
  }
  decision_waiters_.clear();
}

// ---- Decision
// ----------------------------------------------------------------

void TccDriver::Decide(bool commit, std::string reason) {
  decided_ = true;
  v1::Transaction* txn = record_.mutable_txn();
  txn->set_state(commit ? v1::CONFIRMING : v1::CANCELLING);
  txn->set_outcome(commit ? v1::COMMITTED : v1::ROLLED_BACK);
  txn->set_reason(std::move(reason));
  for (v1::Branch& b : *txn->mutable_branches()) b.set_attempts(0);
  TCC_FAILPOINT("before_decision_write");
  WriteDecision();
}

void TccDriver::WriteDecision() {
  Persist(true, [self = shared_from_this()](const absl::Status& status,
                                            const StoredTransaction*) mutable {
    static_cast<TccDriver*>(self.get())->OnDecisionWritten(status);
  });
}

void TccDriver::OnDecisionWritten(const absl::Status& status) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    if (!status.ok()) {
      if (status.code() == absl::StatusCode::kFailedPrecondition) {
        // Someone else moved the transaction: never overwrite their work.
        LogError("transaction ", gid_,
                 ": decision not written: ", status.message());
        absl::Status err = absl::InternalError(absl::StrCat(
            "transaction ", gid_, " was changed concurrently; see Get"));
        NotifyWaiters(err);
        AnswerDecisionWaiters(err);
        Done();
        return;
      }
      // The store failed; nothing is acknowledged. Try again later; the
      // decision stays what it was in memory (it never flips).
      ++decision_write_failures_;
      absl::Duration delay =
          context_->retry->DelayAfter(decision_write_failures_);
      LogWarning("transaction ", gid_, ": decision write failed (",
                 status.message(), "), retrying in ",
                 absl::FormatDuration(delay));
      context_->scheduler->RunAfter(delay, [self = shared_from_this()] {
        auto* driver = static_cast<TccDriver*>(self.get());
        Lock lock(driver);
        driver->WriteDecision();
      });
      return;
    }
    decision_durable_ = true;
    TCC_FAILPOINT("after_decision_write");
    NotifyWaiters(absl::OkStatus());
    AnswerDecisionWaiters(absl::OkStatus());
    StartPhaseTwo(&out);
  }
  SendAfterAnswers(std::move(out));
}

// ---- Confirm / Cancel
// --------------------------------------------------------

TccDriver::Outgoing TccDriver::PhaseTwoCall(int index) {
  v1::Branch* b = record_.mutable_txn()->mutable_branches(index);
  b->set_attempts(b->attempts() + 1);
  return MakeCall(index,
                  Committing() ? BranchPhase::kConfirm : BranchPhase::kCancel,
                  b->action());
}

void TccDriver::StartPhaseTwo(std::vector<Outgoing>* out) {
  const v1::BranchState target =
      Committing() ? v1::BRANCH_CONFIRMED : v1::BRANCH_CANCELLED;
  phase_two_pending_ = 0;
  const v1::Transaction& txn = record_.txn();
  for (int i = 0; i < txn.branches_size(); ++i) {
    if (txn.branches(i).state() == target) continue;
    ++phase_two_pending_;
    out->push_back(PhaseTwoCall(i));
  }
  if (phase_two_pending_ == 0) Finish();
}

void TccDriver::OnPhaseTwoReply(int index, const grpc::Status& status) {
  Lock lock(this);
  v1::Branch* b = record_.mutable_txn()->mutable_branches(index);
  if (ClassifyStatus(status.error_code()) == CallOutcome::kOk) {
    b->set_state(Committing() ? v1::BRANCH_CONFIRMED : v1::BRANCH_CANCELLED);
    b->clear_last_error();
    b->set_next_attempt_unix_ms(0);
    if (--phase_two_pending_ == 0) Finish();
    return;
  }
  // Confirm/Cancel never fail: retry with backoff, visibly.
  absl::Duration delay = context_->retry->DelayAfter(b->attempts());
  absl::Time next = context_->clock->Now() + delay;
  b->set_last_error(DescribeStatus(status));
  b->set_next_attempt_unix_ms(ToUnixMs(next));
  Persist(false, [](const absl::Status&, const StoredTransaction*) {});
  context_->scheduler->RunAt(next, [self = shared_from_this(), index] {
    static_cast<TccDriver*>(self.get())->RetryBranch(index);
  });
}

void TccDriver::RetryBranch(int index) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    out.push_back(PhaseTwoCall(index));
  }
  Send(std::move(out));
}

void TccDriver::Finish() {
  record_.mutable_txn()->set_state(Committing() ? v1::CONFIRMED
                                                : v1::CANCELLED);
  WriteFinal();
}

}  // namespace tcc::coordinator
