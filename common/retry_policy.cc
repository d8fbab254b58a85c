#include "tcc/common/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace tcc {

RetryPolicy::RetryPolicy(RetryPolicyOptions options) : options_(options) {}

absl::Duration RetryPolicy::BaseDelayAfter(int attempt) const {
  if (attempt < 1) attempt = 1;
  double factor = std::pow(std::max(1.0, options_.multiplier), attempt - 1);
  double ms = absl::ToDoubleMilliseconds(options_.initial) * factor;
  double cap = absl::ToDoubleMilliseconds(options_.max);
  return absl::Milliseconds(std::min(ms, cap));
}

absl::Duration RetryPolicy::DelayAfter(int attempt) {
  absl::Duration base = BaseDelayAfter(attempt);
  double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  if (jitter == 0) return base;
  double u;
  {
    absl::MutexLock lock(&mu_);
    u = absl::Uniform(rng_, 0.0, 1.0);
  }
  return base * (1.0 - jitter * u);
}

}  // namespace tcc
