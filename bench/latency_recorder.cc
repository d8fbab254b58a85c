#include "latency_recorder.h"

#include <algorithm>
#include <cmath>

namespace tcc::bench {

void LatencyRecorder::Record(absl::Duration latency) {
  const int64_t nanos = absl::ToInt64Nanoseconds(latency);
  absl::MutexLock lock(&mu_);
  nanos_.push_back(nanos);
  sum_nanos_ += nanos;
  sorted_ = false;
}

size_t LatencyRecorder::Count() const {
  absl::MutexLock lock(&mu_);
  return nanos_.size();
}

absl::Duration LatencyRecorder::Quantile(double q) {
  absl::MutexLock lock(&mu_);
  if (nanos_.empty()) return absl::ZeroDuration();
  if (!sorted_) {
    std::sort(nanos_.begin(), nanos_.end());
    sorted_ = true;
  }
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest sample with at least q of all samples at or
  // below it.
  size_t rank = static_cast<size_t>(std::ceil(q * nanos_.size()));
  size_t index = rank == 0 ? 0 : rank - 1;
  return absl::Nanoseconds(nanos_[std::min(index, nanos_.size() - 1)]);
}

absl::Duration LatencyRecorder::Mean() const {
  absl::MutexLock lock(&mu_);
  if (nanos_.empty()) return absl::ZeroDuration();
  return absl::Nanoseconds(sum_nanos_ / static_cast<int64_t>(nanos_.size()));
}

}  // namespace tcc::bench
