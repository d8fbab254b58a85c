#include "coordinator/transaction_driver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/failpoints.h"
#include "tcc/common/grpc_status.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {

using internal::StoredTransaction;

bool SameContent(const StoredTransaction& a, const StoredTransaction& b) {
  if (a.mode() != b.mode()) return false;
  const v1::Transaction& x = a.txn();
  const v1::Transaction& y = b.txn();
  if (x.branches_size() != y.branches_size()) return false;
  for (int i = 0; i < x.branches_size(); ++i) {
    const v1::Branch& p = x.branches(i);
    const v1::Branch& q = y.branches(i);
    if (p.participant() != q.participant() || p.action() != q.action() ||
        p.payload() != q.payload()) {
      return false;
    }
  }
  if (x.metadata_size() != y.metadata_size()) return false;
  for (const auto& [key, value] : x.metadata()) {
    auto it = y.metadata().find(key);
    if (it == y.metadata().end() || it->second != value) return false;
  }
  return true;
}

TransactionDriver::TransactionDriver(DriverContext* context,
                                     StoredTransaction record)
    : context_(context), gid_(record.txn().gid()), record_(std::move(record)) {}

int64_t TransactionDriver::NowMs() const {
  return ToUnixMs(context_->clock->Now());
}

bool TransactionDriver::Committing() const {
  return record_.txn().outcome() == v1::COMMITTED;
}

Metadata TransactionDriver::CallMetadata() const {
  Metadata md;
  md.reserve(record_.txn().metadata_size());
  for (const auto& [key, value] : record_.txn().metadata()) {
    md.emplace_back(key, value);
  }
  return md;
}

v1::BranchRequest TransactionDriver::BranchRequestFor(int index) const {
  const v1::Branch& b = record_.txn().branches(index);
  v1::BranchRequest req;
  req.set_gid(gid_);
  req.set_branch_id(b.branch_id());
  req.set_action(b.action());
  req.set_payload(b.payload());
  return req;
}

// ---- Writes -----------------------------------------------------------------

void TransactionDriver::Persist(bool sync, WriteDone done) {
  record_.mutable_txn()->set_update_unix_ms(NowMs());
  if (write_in_flight_) {
    write_queued_ = true;
    queued_sync_ = queued_sync_ || sync;
    queued_dones_.push_back(std::move(done));
    return;
  }
  std::vector<WriteDone> dones;
  dones.push_back(std::move(done));
  IssueWrite(sync, std::move(dones));
}

void TransactionDriver::IssueWrite(bool sync, std::vector<WriteDone> dones) {
  write_in_flight_ = true;
  LogWrite write;
  write.record = record_;
  write.expected_version = record_.version();
  write.sync = sync;
  context_->log->Write(
      std::move(write),
      [self = shared_from_this(), dones = std::move(dones)](
          absl::Status status, const StoredTransaction* current) mutable {
        self->OnWriteDone(status, current, std::move(dones));
      });
}

void TransactionDriver::OnWriteDone(const absl::Status& status,
                                    const StoredTransaction* current,
                                    std::vector<WriteDone> dones) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (status.ok() && current != nullptr) {
      record_.set_version(current->version());
    }
    if (write_queued_ && status.code() != absl::StatusCode::kAlreadyExists) {
      write_queued_ = false;
      bool sync = queued_sync_;
      queued_sync_ = false;
      IssueWrite(sync, std::move(queued_dones_));
      queued_dones_.clear();
    }
  }
  for (auto& done : dones) std::move(done)(status, current);
}

// ---- Entry points -----------------------------------------------------------

void TransactionDriver::Create(DecisionCallback on_decided) {
  absl::MutexLock lock(&mu_);
  waiters_.push_back(std::move(on_decided));
  TCC_FAILPOINT("before_create_write");
  Persist(true, [self = shared_from_this()](
                    const absl::Status& status,
                    const StoredTransaction* current) mutable {
    self->OnCreated(status, current);
  });
}

void TransactionDriver::OnCreated(const absl::Status& status,
                                  const StoredTransaction* current) {
  std::vector<Outgoing> out;
  Metadata md;
  {
    absl::MutexLock lock(&mu_);
    if (status.code() == absl::StatusCode::kAlreadyExists &&
        current != nullptr) {
      if (!SameContent(*current, record_)) {
        NotifyWaiters(absl::AlreadyExistsError(absl::StrCat(
            "gid ", gid_,
            " is already used by a transaction with different content or "
            "mode")));
        context_->on_done(this);
        return;
      }
      record_ = *current;
      ResumeLocked(&out);
    } else if (!status.ok()) {
      NotifyWaiters(absl::UnavailableError(
          absl::StrCat("could not record transaction ", gid_,
                       " (nothing was started; retry with the same gid): ",
                       status.message())));
      context_->on_done(this);
      return;
    } else {
      TCC_FAILPOINT("after_create_write");
      StartTryPhase(&out);
    }
    md = CallMetadata();
  }
  Send(std::move(out), md);
}

void TransactionDriver::ResumeFrom(StoredTransaction fresh) {
  {
    absl::MutexLock lock(&mu_);
    record_ = std::move(fresh);
  }
  Resume();
}

void TransactionDriver::Resume() {
  std::vector<Outgoing> out;
  Metadata md;
  {
    absl::MutexLock lock(&mu_);
    ResumeLocked(&out);
    md = CallMetadata();
  }
  Send(std::move(out), md);
}

void TransactionDriver::ResumeLocked(std::vector<Outgoing>* out) {
  const v1::TransactionState state = record_.txn().state();
  if (IsFinalState(state)) {
    decided_ = decision_durable_ = true;
    NotifyWaiters(absl::OkStatus());
    context_->on_done(this);
    return;
  }
  if (state == v1::TRYING) {
    // Nobody can finish this Try phase: the Execute call that owned it died
    // with the previous process. Roll back; Cancel reaches every branch whose
    // Try may have been sent.
    Decide(false, "coordinator restarted during the Try phase");
    return;
  }
  decided_ = decision_durable_ = true;
  NotifyWaiters(absl::OkStatus());
  StartPhaseTwo(out);
}

void TransactionDriver::Attach(const StoredTransaction& request,
                               DecisionCallback on_decided) {
  absl::MutexLock lock(&mu_);
  if (!SameContent(record_, request)) {
    context_->executor->Schedule(
        [cb = std::move(on_decided), gid = gid_]() mutable {
          std::move(cb)(absl::AlreadyExistsError(absl::StrCat(
                            "gid ", gid,
                            " is already used by a transaction with "
                            "different content or mode")),
                        StoredTransaction());
        });
    return;
  }
  waiters_.push_back(std::move(on_decided));
  if (decision_durable_) NotifyWaiters(absl::OkStatus());
}

void TransactionDriver::NotifyWaiters(const absl::Status& status) {
  for (auto& waiter : waiters_) {
    context_->executor->Schedule(
        [cb = std::move(waiter), status, record = record_]() mutable {
          std::move(cb)(status, record);
        });
  }
  waiters_.clear();
}

// ---- Try phase
// ---------------------------------------------------------------

void TransactionDriver::StartTryPhase(std::vector<Outgoing>* out) {
  v1::Transaction* txn = record_.mutable_txn();
  tries_pending_ = txn->branches_size();
  context_->scheduler->RunAt(absl::FromUnixMillis(txn->deadline_unix_ms()),
                             [weak = weak_from_this()] {
                               if (auto self = weak.lock()) self->OnDeadline();
                             });
  for (int i = 0; i < txn->branches_size(); ++i) {
    txn->mutable_branches(i)->set_attempts(1);
    out->push_back(Outgoing{i, BranchPhase::kTry, BranchRequestFor(i),
                            txn->branches(i).participant()});
  }
}

void TransactionDriver::Send(std::vector<Outgoing> calls,
                             const Metadata& metadata) {
  for (Outgoing& call : calls) {
    if (call.phase != BranchPhase::kTry &&
        context_->stopping->load(std::memory_order_relaxed)) {
      continue;  // left to recovery on the next start
    }
    const int index = call.index;
    const BranchPhase phase = call.phase;
    context_->pool->Call(
        call.participant, phase, std::move(call.request), metadata,
        context_->call_deadline,
        [self = shared_from_this(), index, phase](
            const grpc::Status& status, v1::BranchResponse&& response) {
          if (phase == BranchPhase::kTry) {
            self->OnTryReply(index, status, std::move(response));
          } else {
            self->OnPhaseTwoReply(index, status);
          }
        });
    TCC_FAILPOINT(phase == BranchPhase::kTry ? "after_try_sent"
                                             : "after_phase_two_sent");
  }
}

void TransactionDriver::OnTryReply(int index, const grpc::Status& status,
                                   v1::BranchResponse&& response) {
  absl::MutexLock lock(&mu_);
  if (decided_) return;  // a refusal or the deadline already decided
  v1::Branch* branch = record_.mutable_txn()->mutable_branches(index);
  --tries_pending_;
  switch (ClassifyStatus(status.error_code())) {
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

void TransactionDriver::OnDeadline() {
  absl::MutexLock lock(&mu_);
  if (decided_) return;
  Decide(false, "Try phase timed out");
}

// ---- Decision
// ----------------------------------------------------------------

void TransactionDriver::Decide(bool commit, std::string reason) {
  decided_ = true;
  v1::Transaction* txn = record_.mutable_txn();
  txn->set_state(commit ? v1::CONFIRMING : v1::CANCELLING);
  txn->set_outcome(commit ? v1::COMMITTED : v1::ROLLED_BACK);
  txn->set_reason(std::move(reason));
  for (v1::Branch& b : *txn->mutable_branches()) b.set_attempts(0);
  TCC_FAILPOINT("before_decision_write");
  WriteDecision();
}

void TransactionDriver::WriteDecision() {
  Persist(true, [self = shared_from_this()](const absl::Status& status,
                                            const StoredTransaction*) mutable {
    self->OnDecisionWritten(status);
  });
}

void TransactionDriver::OnDecisionWritten(const absl::Status& status) {
  std::vector<Outgoing> out;
  Metadata md;
  {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      if (status.code() == absl::StatusCode::kFailedPrecondition) {
        // Someone else moved the transaction: never overwrite their work.
        LogError("transaction ", gid_,
                 ": decision not written: ", status.message());
        NotifyWaiters(absl::InternalError(absl::StrCat(
            "transaction ", gid_, " was changed concurrently; see Get")));
        context_->on_done(this);
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
        absl::MutexLock lock(&self->mu_);
        self->WriteDecision();
      });
      return;
    }
    decision_durable_ = true;
    TCC_FAILPOINT("after_decision_write");
    NotifyWaiters(absl::OkStatus());
    StartPhaseTwo(&out);
    md = CallMetadata();
  }
  Send(std::move(out), md);
}

// ---- Confirm / Cancel
// --------------------------------------------------------

TransactionDriver::Outgoing TransactionDriver::PhaseTwoCall(int index) {
  v1::Branch* b = record_.mutable_txn()->mutable_branches(index);
  b->set_attempts(b->attempts() + 1);
  return Outgoing{index,
                  Committing() ? BranchPhase::kConfirm : BranchPhase::kCancel,
                  BranchRequestFor(index), b->participant()};
}

void TransactionDriver::StartPhaseTwo(std::vector<Outgoing>* out) {
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

void TransactionDriver::OnPhaseTwoReply(int index, const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
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
  context_->scheduler->RunAt(
      next, [self = shared_from_this(), index] { self->RetryBranch(index); });
}

void TransactionDriver::RetryBranch(int index) {
  std::vector<Outgoing> out;
  Metadata md;
  {
    absl::MutexLock lock(&mu_);
    out.push_back(PhaseTwoCall(index));
    md = CallMetadata();
  }
  Send(std::move(out), md);
}

void TransactionDriver::Finish() {
  finishing_ = true;
  v1::Transaction* txn = record_.mutable_txn();
  txn->set_state(Committing() ? v1::CONFIRMED : v1::CANCELLED);
  txn->set_finish_unix_ms(NowMs());
  TCC_FAILPOINT("before_final_write");
  // Not synced: if a crash loses it, recovery repeats the (idempotent)
  // Confirms/Cancels and writes it again.
  Persist(false, [self = shared_from_this()](const absl::Status& status,
                                             const StoredTransaction*) {
    if (status.ok()) {
      TCC_FAILPOINT("after_final_write");
      self->context_->on_done(self.get());
      return;
    }
    if (status.code() == absl::StatusCode::kFailedPrecondition) {
      // Another driver already moved this transaction on; never overwrite.
      LogError("transaction ", self->gid_,
               ": final write refused: ", status.message());
      self->context_->on_done(self.get());
      return;
    }
    LogWarning("transaction ", self->gid_,
               ": final write failed: ", status.message());
    self->context_->scheduler->RunAfter(absl::Seconds(1), [self] {
      absl::MutexLock lock(&self->mu_);
      self->Finish();
    });
  });
}

}  // namespace tcc::coordinator
