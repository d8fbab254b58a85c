#ifndef TCC_BENCH_LATENCY_RECORDER_H_
#define TCC_BENCH_LATENCY_RECORDER_H_

#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tcc::bench {

// Keeps every latency sample of a run (a few hundred thousand at most, so
// exact percentiles are cheap). Thread-safe.
class LatencyRecorder {
 public:
  void Record(absl::Duration latency);

  // Number of samples.
  size_t Count() const;
  // The q-quantile (0 <= q <= 1) by the nearest-rank method; zero when
  // there are no samples. Sorts on first use after a Record().
  absl::Duration Quantile(double q);
  absl::Duration Mean() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> nanos_ ABSL_GUARDED_BY(mu_);
  int64_t sum_nanos_ ABSL_GUARDED_BY(mu_) = 0;
  bool sorted_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace tcc::bench

#endif  // TCC_BENCH_LATENCY_RECORDER_H_
