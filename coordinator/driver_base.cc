#include "coordinator/driver_base.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/failpoints.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {

using internal::StoredTransaction;

bool SameContent(const StoredTransaction& a, const StoredTransaction& b) {
  const v1::Transaction& x = a.txn();
  const v1::Transaction& y = b.txn();
  if (x.mode() != y.mode()) return false;
  if (x.metadata_size() != y.metadata_size()) return false;
  for (const auto& [key, value] : x.metadata()) {
    auto it = y.metadata().find(key);
    if (it == y.metadata().end() || it->second != value) return false;
  }
  // Interactive transactions grow branch by branch: Begin carries none.
  if (x.mode() == v1::MODE_INTERACTIVE) return true;
  if (x.branches_size() != y.branches_size()) return false;
  for (int i = 0; i < x.branches_size(); ++i) {
    const v1::Branch& p = x.branches(i);
    const v1::Branch& q = y.branches(i);
    if (p.participant() != q.participant() || p.action() != q.action() ||
        p.payload() != q.payload() || p.compensation() != q.compensation()) {
      return false;
    }
  }
  return true;
}

DriverBase::DriverBase(DriverContext* context, StoredTransaction record)
    : context_(context),
      gid_(record.txn().gid()),
      mode_(record.txn().mode()),
      record_(std::move(record)) {
  for (const auto& [key, value] : record_.txn().metadata()) {
    metadata_.emplace_back(key, value);
  }
}

int64_t DriverBase::NowMs() const { return ToUnixMs(context_->clock->Now()); }

absl::Time DriverBase::Deadline() const {
  return absl::FromUnixMillis(record_.txn().deadline_unix_ms());
}

DriverBase::Outgoing DriverBase::MakeCall(int index, BranchPhase phase,
                                          const std::string& action) const {
  const v1::Branch& b = record_.txn().branches(index);
  v1::BranchRequest req;
  req.set_gid(gid_);
  req.set_branch_id(b.branch_id());
  req.set_action(action);
  req.set_payload(b.payload());
  return Outgoing{index, phase, std::move(req), b.participant()};
}

// ---- Writes -----------------------------------------------------------------

void DriverBase::Persist(bool sync, WriteDone done) {
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

void DriverBase::IssueWrite(bool sync, std::vector<WriteDone> dones) {
  write_in_flight_ = true;
  // Serialized here, under the lock: the log gets bytes, not a copy of the
  // record. record_ keeps the stored version until the write lands.
  const uint64_t stored_version = record_.version();
  LogWrite write = LogWrite::Of(&record_, stored_version, sync);
  context_->log->Write(
      std::move(write),
      [self = shared_from_this(), written = stored_version + 1,
       dones = std::move(dones)](absl::Status status,
                                 const StoredTransaction* current) mutable {
        self->OnWriteDone(status, written, current, std::move(dones));
      });
}

void DriverBase::OnWriteDone(const absl::Status& status, uint64_t written,
                             const StoredTransaction* current,
                             std::vector<WriteDone> dones) {
  {
    Lock lock(this);
    write_in_flight_ = false;
    if (status.ok()) record_.set_version(written);
    if (write_queued_ && status.code() != absl::StatusCode::kAlreadyExists) {
      write_queued_ = false;
      bool sync = queued_sync_;
      queued_sync_ = false;
      std::vector<WriteDone> next = std::move(queued_dones_);
      queued_dones_.clear();
      IssueWrite(sync, std::move(next));
    }
  }
  for (auto& done : dones) std::move(done)(status, current);
}

void DriverBase::WriteFinal() {
  record_.mutable_txn()->set_finish_unix_ms(NowMs());
  TCC_FAILPOINT("before_final_write");
  Persist(false, [self = shared_from_this()](const absl::Status& status,
                                             const StoredTransaction*) {
    if (status.ok()) {
      TCC_FAILPOINT("after_final_write");
      self->Done();
      return;
    }
    if (status.code() == absl::StatusCode::kFailedPrecondition) {
      // Another driver already moved this transaction on; never overwrite.
      LogError("transaction ", self->gid_,
               ": final write refused: ", status.message());
      self->Done();
      return;
    }
    LogWarning("transaction ", self->gid_,
               ": final write failed: ", status.message());
    self->context_->scheduler->RunAfter(absl::Seconds(1), [self] {
      Lock lock(self.get());
      self->WriteFinal();
    });
  });
}

void DriverBase::ScheduleDeadline() {
  const Scheduler::TaskId task =
      context_->scheduler->RunAt(Deadline(), [weak = weak_from_this()] {
        if (std::shared_ptr<DriverBase> self = weak.lock()) self->OnDeadline();
      });
  std::optional<Scheduler::TaskId> replaced;
  bool done;
  {
    absl::MutexLock lock(&timer_mu_);
    done = done_;
    replaced = std::exchange(deadline_task_, task);
  }
  if (replaced) context_->scheduler->Cancel(*replaced);
  if (done) context_->scheduler->Cancel(task);
}

void DriverBase::Done() {
  std::optional<Scheduler::TaskId> task;
  {
    absl::MutexLock lock(&timer_mu_);
    done_ = true;
    task = std::exchange(deadline_task_, std::nullopt);
  }
  if (task) context_->scheduler->Cancel(*task);
  context_->on_done(this);
}

// ---- Calls ------------------------------------------------------------------

Metadata DriverBase::CallMetadata() const { return metadata_; }

void DriverBase::SendAfterAnswers(std::vector<Outgoing> calls) {
  if (calls.empty()) return;
  context_->executor->Schedule(
      [self = shared_from_this(), calls = std::move(calls)]() mutable {
        self->Send(std::move(calls));
      });
}

void DriverBase::Send(std::vector<Outgoing> calls) {
  for (Outgoing& call : calls) {
    if (call.phase != BranchPhase::kTry &&
        context_->stopping->load(std::memory_order_relaxed)) {
      continue;  // left to recovery on the next start
    }
    const int index = call.index;
    const BranchPhase phase = call.phase;
    context_->pool->Call(
        call.participant, phase, std::move(call.request), metadata_,
        context_->call_deadline,
        [self = shared_from_this(), index, phase](
            const grpc::Status& status, v1::BranchResponse&& response) {
          self->OnReply(index, phase, status, std::move(response));
        });
    TCC_FAILPOINT(phase == BranchPhase::kTry ? "after_try_sent"
                                             : "after_phase_two_sent");
  }
}

void DriverBase::NotifyWaiters(const absl::Status& status) {
  if (waiters_.empty()) return;
  answers_.push_back(Answers{std::move(waiters_), status, record_});
  waiters_.clear();
}

DriverBase::Lock::Lock(DriverBase* driver) : driver_(driver) {
  driver_->mu_.Lock();
}

DriverBase::Lock::~Lock() {
  std::vector<Answers> answers;
  answers.swap(driver_->answers_);
  driver_->mu_.Unlock();
  for (Answers& a : answers) {
    // Each caller gets a copy but the last, which gets the record.
    for (size_t i = 0; i < a.callbacks.size(); ++i) {
      std::move(a.callbacks[i])(a.status, i + 1 < a.callbacks.size()
                                              ? a.record
                                              : std::move(a.record));
    }
  }
}

// ---- Entry points -----------------------------------------------------------

void DriverBase::Create(DecisionCallback on_answer) {
  Lock lock(this);
  waiters_.push_back(std::move(on_answer));
  TCC_FAILPOINT("before_create_write");
  Persist(true, [self = shared_from_this()](
                    const absl::Status& status,
                    const StoredTransaction* current) mutable {
    self->OnCreated(status, current);
  });
}

void DriverBase::OnCreated(const absl::Status& status,
                           const StoredTransaction* current) {
  std::vector<Outgoing> out;
  {
    Lock lock(this);
    if (status.code() == absl::StatusCode::kAlreadyExists &&
        current != nullptr) {
      if (!SameContent(*current, record_)) {
        NotifyWaiters(absl::AlreadyExistsError(absl::StrCat(
            "gid ", gid_,
            " is already used by a transaction with different content or "
            "mode")));
        Done();
        return;
      }
      record_ = *current;
      ResumeAny(&out);
    } else if (!status.ok()) {
      NotifyWaiters(absl::UnavailableError(absl::StrCat(
          "could not record transaction ", gid_,
          " (no participant was called; retry with the same gid): ",
          status.message())));
      Done();
      return;
    } else {
      TCC_FAILPOINT("after_create_write");
      StartLocked(&out);
    }
  }
  Send(std::move(out));
}

void DriverBase::ResumeFrom(StoredTransaction fresh) {
  std::vector<Outgoing> out;
  std::vector<absl::AnyInvocable<void(const absl::Status&) &&>> held;
  {
    Lock lock(this);
    record_ = std::move(fresh);
    ResumeAny(&out);
    adopting_ = false;
    held.swap(when_resumed_);
  }
  Send(std::move(out));
  for (auto& fn : held) std::move(fn)(absl::OkStatus());
}

void DriverBase::MarkAdopting() {
  Lock lock(this);
  adopting_ = true;
}

void DriverBase::AbandonAdoption(const absl::Status& why) {
  std::vector<absl::AnyInvocable<void(const absl::Status&) &&>> held;
  {
    Lock lock(this);
    adopting_ = false;
    held.swap(when_resumed_);
  }
  for (auto& fn : held) std::move(fn)(why);
}

void DriverBase::WhenResumed(
    absl::AnyInvocable<void(const absl::Status&) &&> fn) {
  {
    Lock lock(this);
    if (adopting_) {
      when_resumed_.push_back(std::move(fn));
      return;
    }
  }
  std::move(fn)(absl::OkStatus());
}

void DriverBase::ResumeAny(std::vector<Outgoing>* out) {
  if (IsFinalState(record_.txn().state())) {
    NotifyWaiters(absl::OkStatus());
    Done();
    return;
  }
  ResumeLocked(out);
  if (AnswerReadyLocked()) NotifyWaiters(absl::OkStatus());
}

void DriverBase::Attach(const StoredTransaction& request,
                        DecisionCallback on_answer) {
  Lock lock(this);
  if (!SameContent(record_, request)) {
    context_->executor->Schedule(
        [cb = std::move(on_answer), gid = gid_]() mutable {
          std::move(cb)(absl::AlreadyExistsError(absl::StrCat(
                            "gid ", gid,
                            " is already used by a transaction with "
                            "different content or mode")),
                        StoredTransaction());
        });
    return;
  }
  waiters_.push_back(std::move(on_answer));
  if (IsFinalState(record_.txn().state()) || AnswerReadyLocked()) {
    NotifyWaiters(absl::OkStatus());
  }
}

}  // namespace tcc::coordinator
