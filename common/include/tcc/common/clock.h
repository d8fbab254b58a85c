#ifndef TCC_COMMON_CLOCK_H_
#define TCC_COMMON_CLOCK_H_

#include <functional>
#include <map>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tcc {

// The one source of time for deadlines, timeouts, backoff and retention, so
// that tests can move time without sleeping. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // True when time advances by itself (timed waits may be used); false for a
  // manual clock, whose owner wakes waiters through advance listeners.
  virtual bool IsReal() const = 0;
  // Registers `listener`, called (without locks held) after every manual
  // advance of time; a real clock never calls it. Returns an id for
  // RemoveAdvanceListener, which must be called before the listener's
  // captures die and must not race with Advance (listeners run outside the
  // clock's lock, since they take their owners' locks).
  virtual int AddAdvanceListener(std::function<void()> listener) = 0;
  virtual void RemoveAdvanceListener(int id) = 0;

  // The process-wide wall clock.
  static Clock* Real();
};

// A clock that only moves when told. For tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1700000000));
  absl::Time Now() const override;
  bool IsReal() const override { return false; }
  int AddAdvanceListener(std::function<void()> listener) override;
  void RemoveAdvanceListener(int id) override;
  // Moves time forward by `d` and notifies listeners.
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::function<void()>> listeners_ ABSL_GUARDED_BY(mu_);
  int next_listener_ ABSL_GUARDED_BY(mu_) = 0;
};

inline int64_t ToUnixMs(absl::Time t) { return absl::ToUnixMillis(t); }

}  // namespace tcc

#endif  // TCC_COMMON_CLOCK_H_
