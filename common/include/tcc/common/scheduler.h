#ifndef TCC_COMMON_SCHEDULER_H_
#define TCC_COMMON_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tcc/common/clock.h"
#include "tcc/common/thread_pool.h"

namespace tcc {

// Runs tasks at times of an injected Clock: retries with backoff, transaction
// timeouts, retention sweeps. One thread waits; due tasks are handed to an
// Executor, so a task may block without delaying others. With a ManualClock
// tasks fire only when the clock is advanced, which is how tests exercise
// timeouts without sleeping. Thread-safe.
class Scheduler {
 public:
  // `clock` and `executor` must outlive the scheduler.
  Scheduler(Clock* clock, Executor* executor);
  // Runs Shutdown().
  ~Scheduler();

  // Identifies a scheduled task, for Cancel().
  struct TaskId {
    absl::Time when;
    uint64_t seq = 0;
  };

  // Runs `fn` on the executor once clock->Now() >= `when`. Tasks scheduled
  // after Shutdown() are dropped.
  TaskId RunAt(absl::Time when, absl::AnyInvocable<void() &&> fn);
  TaskId RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> fn) {
    return RunAt(clock_->Now() + delay, std::move(fn));
  }
  // Drops the task if it has not been handed to the executor yet (its `fn`
  // is destroyed on this thread) and returns whether it was dropped.
  bool Cancel(TaskId id);
  // Drops pending tasks and joins the thread. Idempotent.
  void Shutdown();
  // Tasks waiting for their time.
  size_t Pending() const;

  Clock* clock() const { return clock_; }

 private:
  void Loop();
  void Wake();

  Clock* const clock_;
  Executor* const executor_;
  mutable absl::Mutex mu_;
  // Ordered by (time, sequence) so equal times run in submission order.
  std::map<std::pair<absl::Time, uint64_t>, absl::AnyInvocable<void() &&>>
      tasks_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int listener_id_ = 0;
  std::thread thread_;
};

}  // namespace tcc

#endif  // TCC_COMMON_SCHEDULER_H_
