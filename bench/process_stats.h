#ifndef TCC_BENCH_PROCESS_STATS_H_
#define TCC_BENCH_PROCESS_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tcc::bench {

// CPU time (user + system) a live process has used so far, read from
// /proc/<pid>/stat. Resolution is one clock tick (usually 10 ms), so only
// differences over seconds are meaningful. NOT_FOUND once the process is
// gone; INTERNAL if the file cannot be parsed.
absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid);

// One thread of a live process, as /proc/<pid>/task/<tid>/ shows it: its
// name (at most 15 bytes) and what it has used so far. CPU time has a
// clock tick's resolution, as in ProcessCpuTime().
struct ThreadSample {
  pid_t tid = 0;
  std::string name;
  absl::Duration cpu;
  // Times the thread went to sleep (waited for a lock, a condition, I/O,
  // a poll) and times the scheduler took the CPU from it.
  int64_t voluntary_switches = 0;
  int64_t involuntary_switches = 0;
};

// Every thread of process `pid`. Threads that end while they are read are
// left out. NOT_FOUND if the process is gone.
absl::StatusOr<std::vector<ThreadSample>> ProcessThreads(pid_t pid);

// What the threads of one name used between two samples.
struct ThreadUse {
  std::string name;
  int threads = 0;
  absl::Duration cpu;
  int64_t voluntary_switches = 0;
  int64_t involuntary_switches = 0;
};

// The threads present in both `before` and `after` (matched by tid; the
// samples may hold the threads of several processes), grouped by name with
// a trailing "-<digits>" dropped ("tccd-exec-0" and "tccd-exec-1" are one
// "tccd-exec" of 2 threads), most CPU first.
std::vector<ThreadUse> ThreadUseBetween(const std::vector<ThreadSample>& before,
                                        const std::vector<ThreadSample>& after);

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
