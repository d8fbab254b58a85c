#ifndef TCC_BENCH_PROCESS_STATS_H_
#define TCC_BENCH_PROCESS_STATS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tcc::bench {

// CPU time (user + system) a live process has used so far, read from
// /proc/<pid>/stat. Resolution is one clock tick (usually 10 ms), so only
// differences over seconds are meaningful. NOT_FOUND once the process is
// gone; INTERNAL if the file cannot be parsed.
absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid);

// CPU time (user + system) of the calling process, from getrusage(), with
// microsecond resolution.
absl::Duration SelfCpuTime();

// CPU time every CPU of the machine has spent busy (not idle, not waiting
// for I/O) since boot, from /proc/stat. Compared with the CPU time of the
// benchmark's own processes it shows how much other load ran meanwhile.
absl::StatusOr<absl::Duration> MachineBusyCpuTime();

// Resident set size of a live process in bytes, from /proc/<pid>/statm.
// NOT_FOUND once the process is gone.
absl::StatusOr<int64_t> ProcessRssBytes(pid_t pid);

}  // namespace tcc::bench

#endif  // TCC_BENCH_PROCESS_STATS_H_
