#include "tcc/common/clock.h"

#include <utility>
#include <vector>

namespace tcc {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool IsReal() const override { return true; }
  int AddAdvanceListener(std::function<void()>) override { return 0; }
  void RemoveAdvanceListener(int) override {}
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

ManualClock::ManualClock(absl::Time start) : now_(start) {}

absl::Time ManualClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

int ManualClock::AddAdvanceListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  int id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void ManualClock::RemoveAdvanceListener(int id) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(id);
}

void ManualClock::Advance(absl::Duration d) {
  std::vector<std::function<void()>> listeners;
  {
    absl::MutexLock lock(&mu_);
    now_ += d;
    for (auto& [id, listener] : listeners_) listeners.push_back(listener);
  }
  for (auto& listener : listeners) listener();
}

}  // namespace tcc
