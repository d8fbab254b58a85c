#ifndef TCC_BENCH_DISK_PROBE_H_
#define TCC_BENCH_DISK_PROBE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tcc::bench {

// What one writer appending small records to a file, each followed by
// fdatasync(), sees of the disk: the shape of every synced write the
// coordinator and the participants make, without them. A run's transactions
// wait for such fsyncs three at a time; while the disk stalls (a sync that
// takes tens or hundreds of milliseconds), every transaction in flight waits,
// and the machine's cores sit idle.
struct DiskProbeFigures {
  std::string when;  // "before" or "after" the benchmark's runs
  double seconds = 0;
  int64_t syncs = 0;
  int record_bytes = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double max_ms = 0;
  // Syncs that took longer than kStallMillis, and the time spent in them.
  int64_t stalls = 0;
  double stalled_ms = 0;
  double stalled_share = 0;  // stalled_ms / the probe's duration
};

inline constexpr double kStallMillis = 10;

// Appends `record_bytes` and calls fdatasync() in a loop for `duration`, in
// a fresh file in `dir` (removed afterwards). INTERNAL if the file cannot be
// created or a write or sync fails.
absl::StatusOr<DiskProbeFigures> ProbeDisk(const std::string& dir,
                                           absl::Duration duration,
                                           int record_bytes);

}  // namespace tcc::bench

#endif  // TCC_BENCH_DISK_PROBE_H_
