#ifndef TCC_PARTICIPANT_BARRIER_PURGER_H_
#define TCC_PARTICIPANT_BARRIER_PURGER_H_

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tcc/common/scheduler.h"

namespace tcc::participant {

struct BarrierPurgerOptions {
  // Barrier records older than this are deleted. It must exceed the longest
  // time the coordinator may still send a phase of a branch (see
  // PostgresBarrierStore::PurgeOlderThan). Default 7 days.
  absl::Duration retention = absl::Hours(7 * 24);
  // Time between the end of one sweep's purging and the start of the next
  // sweep. Default 10 minutes.
  absl::Duration interval = absl::Minutes(10);
  // Records deleted per write. Default 1000.
  int batch_size = 1000;
  // Called on the sweeping thread after every sweep with the number of
  // records deleted, or the error that ended the sweep (the next sweep is
  // scheduled regardless). Must not call Stop(). Default empty.
  std::function<void(const absl::StatusOr<int>& purged)> on_sweep;
};

// Periodically purges expired barrier records from `Store` (which provides
// `absl::StatusOr<int> PurgeOlderThan(absl::Time cutoff, int max_records)`,
// as PostgresBarrierStore does), driven by a Scheduler and timed by the
// scheduler's clock. Thread-safe. RocksDbBarrierStore needs none: its
// records expire in compaction (RocksDbBarrierStoreOptions::retention).
template <class Store>
class BarrierPurger {
 public:
  // `store` must outlive Stop(); `scheduler` must outlive the purger or be
  // shut down first. Nothing runs until Start().
  BarrierPurger(Store* store, Scheduler* scheduler,
                BarrierPurgerOptions options)
      : state_(std::make_shared<State>(store, scheduler, std::move(options))) {}
  BarrierPurger(const BarrierPurger&) = delete;
  BarrierPurger& operator=(const BarrierPurger&) = delete;
  // Runs Stop().
  ~BarrierPurger() { Stop(); }

  // Schedules the first sweep one interval from now. Call at most once.
  void Start() { ScheduleNext(state_); }

  // Waits for a sweep in progress to finish (at the end of its current
  // batch) and prevents any further sweep. Idempotent. Must not be called
  // from on_sweep.
  void Stop() {
    absl::MutexLock lock(&state_->mu);
    state_->stopped = true;
    state_->mu.Await(absl::Condition(
        +[](State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
          return s->active_sweeps == 0;
        },
        state_.get()));
  }

 private:
  // Shared with the scheduled tasks, which may outlive the purger.
  struct State {
    State(Store* store, Scheduler* scheduler, BarrierPurgerOptions options)
        : store(store), scheduler(scheduler), options(std::move(options)) {}
    Store* const store;
    Scheduler* const scheduler;
    const BarrierPurgerOptions options;
    absl::Mutex mu;
    bool stopped ABSL_GUARDED_BY(mu) = false;
    // Sweeps started and not finished (two may overlap briefly when the
    // interval is shorter than on_sweep).
    int active_sweeps ABSL_GUARDED_BY(mu) = 0;
  };

  static void ScheduleNext(std::shared_ptr<State> state) {
    Scheduler* scheduler = state->scheduler;
    absl::Duration interval = state->options.interval;
    scheduler->RunAfter(interval, [state = std::move(state)] { Sweep(state); });
  }

  static void Sweep(const std::shared_ptr<State>& state) {
    {
      absl::MutexLock lock(&state->mu);
      if (state->stopped) return;
      ++state->active_sweeps;
    }
    const absl::Time cutoff =
        state->scheduler->clock()->Now() - state->options.retention;
    absl::StatusOr<int> total = 0;
    for (;;) {
      absl::StatusOr<int> purged =
          state->store->PurgeOlderThan(cutoff, state->options.batch_size);
      if (!purged.ok()) {
        total = purged.status();
        break;
      }
      *total += *purged;
      if (*purged < state->options.batch_size) break;
      absl::MutexLock lock(&state->mu);
      if (state->stopped) break;
    }
    {
      // Scheduled before on_sweep runs, so that whoever on_sweep wakes sees
      // the next sweep already pending.
      absl::MutexLock lock(&state->mu);
      if (!state->stopped) ScheduleNext(state);
    }
    if (state->options.on_sweep) state->options.on_sweep(total);
    absl::MutexLock lock(&state->mu);
    --state->active_sweeps;
  }

  std::shared_ptr<State> state_;
};

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_BARRIER_PURGER_H_
