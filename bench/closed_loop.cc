#include "closed_loop.h"

#include <chrono>
#include <utility>

namespace tcc::bench {

ClosedLoop::ClosedLoop(int concurrency, IssueCall issue)
    : state_(std::make_shared<State>()) {
  state_->issue = std::move(issue);
  state_->concurrency = concurrency;
}

ClosedLoop::~ClosedLoop() { StopAndDrain(absl::Seconds(60)); }

void ClosedLoop::Start() {
  started_ = true;
  {
    absl::MutexLock lock(&state_->mu);
    state_->in_flight = state_->concurrency;
  }
  for (int client = 0; client < state_->concurrency; ++client) {
    IssueNext(state_, client);
  }
}

void ClosedLoop::IssueNext(const std::shared_ptr<State>& state, int client) {
  const auto start = std::chrono::steady_clock::now();
  state->issue(client, [state, client, start](CallResult result,
                                              std::string_view error) {
    const absl::Duration latency =
        absl::FromChrono(std::chrono::steady_clock::now() - start);
    const bool measuring = state->measuring.load(std::memory_order_acquire);
    if (measuring) state->latencies.Record(latency);
    {
      absl::MutexLock lock(&state->mu);
      if (result == CallResult::kCommitted) ++state->counts.committed_total;
      if (measuring) {
        switch (result) {
          case CallResult::kCommitted:
            ++state->counts.committed;
            break;
          case CallResult::kRolledBack:
            ++state->counts.rolled_back;
            break;
          case CallResult::kError:
            if (state->counts.errors++ == 0) {
              state->counts.first_error = std::string(error);
            }
            break;
        }
      }
    }
    if (state->stopping.load(std::memory_order_acquire)) {
      absl::MutexLock lock(&state->mu);
      --state->in_flight;
      return;
    }
    IssueNext(state, client);
  });
}

void ClosedLoop::BeginMeasurement() {
  absl::MutexLock lock(&state_->mu);
  state_->window_start = absl::Now();
  state_->measuring.store(true, std::memory_order_release);
}

void ClosedLoop::EndMeasurement() {
  absl::MutexLock lock(&state_->mu);
  state_->measuring.store(false, std::memory_order_release);
  state_->counts.window = absl::Now() - state_->window_start;
}

bool ClosedLoop::StopAndDrain(absl::Duration timeout) {
  state_->stopping.store(true, std::memory_order_release);
  if (!started_) return true;
  absl::MutexLock lock(&state_->mu);
  return state_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
            return s->in_flight == 0;
          },
          state_.get()),
      timeout);
}

ClosedLoopCounts ClosedLoop::Counts() const {
  absl::MutexLock lock(&state_->mu);
  return state_->counts;
}

}  // namespace tcc::bench
