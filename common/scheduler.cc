#include "tcc/common/scheduler.h"

#include <vector>

#include "tcc/common/thread_name.h"

namespace tcc {

Scheduler::Scheduler(Clock* clock, Executor* executor)
    : clock_(clock), executor_(executor) {
  listener_id_ = clock_->AddAdvanceListener([this] { Wake(); });
  thread_ = std::thread([this] {
    NameCurrentThread("tcc-timers");
    Loop();
  });
}

Scheduler::~Scheduler() {
  Shutdown();
  clock_->RemoveAdvanceListener(listener_id_);
}

Scheduler::TaskId Scheduler::RunAt(absl::Time when,
                                   absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  const TaskId id{when, next_seq_++};
  if (stopping_) return id;
  bool earliest = tasks_.empty() || when < tasks_.begin()->first.first;
  tasks_.emplace(std::make_pair(id.when, id.seq), std::move(fn));
  if (earliest) wake_ = true;
  return id;
}

bool Scheduler::Cancel(TaskId id) {
  absl::AnyInvocable<void() &&> dropped;  // destroyed after unlocking
  absl::MutexLock lock(&mu_);
  auto it = tasks_.find(std::make_pair(id.when, id.seq));
  if (it == tasks_.end()) return false;
  dropped = std::move(it->second);
  tasks_.erase(it);
  return true;
}

void Scheduler::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

size_t Scheduler::Pending() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

void Scheduler::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_ = true;
    tasks_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Loop() {
  // Real clocks are re-read at least this often, in case the wall clock
  // jumps.
  constexpr absl::Duration kMaxSleep = absl::Milliseconds(500);
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time now = clock_->Now();
    std::vector<absl::AnyInvocable<void() &&>> due;
    while (!tasks_.empty() && tasks_.begin()->first.first <= now) {
      due.push_back(std::move(tasks_.begin()->second));
      tasks_.erase(tasks_.begin());
    }
    if (!due.empty()) {
      mu_.Unlock();
      for (auto& fn : due) executor_->Schedule(std::move(fn));
      mu_.Lock();
      continue;
    }
    wake_ = false;
    absl::Condition woken(&wake_);
    if (clock_->IsReal()) {
      absl::Duration sleep = kMaxSleep;
      if (!tasks_.empty()) {
        sleep = std::min(sleep, tasks_.begin()->first.first - now);
      }
      mu_.AwaitWithTimeout(woken, sleep);
    } else {
      mu_.Await(woken);
    }
  }
}

}  // namespace tcc
