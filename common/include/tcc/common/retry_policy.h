#ifndef TCC_COMMON_RETRY_POLICY_H_
#define TCC_COMMON_RETRY_POLICY_H_

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tcc {

// Capped exponential backoff with jitter: the one retry policy of the project
// (Confirm/Cancel retries, saga action retries).
struct RetryPolicyOptions {
  // Delay before the second attempt. Default 100 ms.
  absl::Duration initial = absl::Milliseconds(100);
  // Growth per attempt. Default 2.
  double multiplier = 2.0;
  // Upper bound of the un-jittered delay. Default 30 s.
  absl::Duration max = absl::Seconds(30);
  // Fraction of the delay drawn at random: the delay is uniform in
  // [d * (1 - jitter), d]. Default 0.5. 0 gives deterministic delays.
  double jitter = 0.5;
};

// Thread-safe.
class RetryPolicy {
 public:
  explicit RetryPolicy(RetryPolicyOptions options = {});

  // Delay to wait after failed attempt number `attempt` (1-based) before the
  // next one.
  absl::Duration DelayAfter(int attempt);
  // The un-jittered delay after `attempt`: min(max, initial * mult^(a-1)).
  absl::Duration BaseDelayAfter(int attempt) const;

  const RetryPolicyOptions& options() const { return options_; }

 private:
  const RetryPolicyOptions options_;
  absl::Mutex mu_;
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcc

#endif  // TCC_COMMON_RETRY_POLICY_H_
