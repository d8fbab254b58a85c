#ifndef TCC_TESTS_CHAOS_FAULT_SCHEDULE_H_
#define TCC_TESTS_CHAOS_FAULT_SCHEDULE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tcc::chaos {

enum class FaultKind {
  // kill -9 the process, restart it after `length`.
  kKill,
  // SIGSTOP the process, SIGCONT after `length` (longer than tccd's call
  // deadline).
  kPause,
  // The proxy in front of a participant delays every chunk by `delay`.
  kDelay,
  // The proxy cuts every connection and refuses new ones.
  kRefuse,
  // The proxy cuts connections in the middle of requests.
  kCutMidCall,
  // The proxy delivers requests and drops the replies, then cuts.
  kDropReplies,
};

const char* FaultKindName(FaultKind kind);

// One fault: what, to whom, from when and for how long. Times are offsets
// from the start of the load.
struct Fault {
  FaultKind kind = FaultKind::kKill;
  // "tccd" or a participant name. Proxy faults name the participant whose
  // proxy (between tccd and it) misbehaves.
  std::string target;
  absl::Duration start;
  absl::Duration length;
  // kDelay only.
  absl::Duration delay;

  absl::Duration end() const { return start + length; }
  // One line, e.g. "+12.345s  pause      bank-a  for 2.1s".
  std::string ToString() const;
  bool operator==(const Fault& other) const;
};

// What a schedule is drawn over.
struct ScheduleOptions {
  // Length of the load; every fault starts after `warmup` and ends at least
  // `quiet_tail` before the load stops.
  absl::Duration duration = absl::Seconds(40);
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration quiet_tail = absl::Seconds(5);
  // tccd's per-call deadline: pauses last 1.5x to 4x this.
  absl::Duration call_timeout = absl::Seconds(1);
  // Time between the starts of two consecutive faults, drawn uniformly.
  absl::Duration min_gap = absl::Milliseconds(300);
  absl::Duration max_gap = absl::Milliseconds(2500);
  // Participants by name (tccd is always a target too).
  std::vector<std::string> participants;
};

// The faults of one run, ordered by start. A pure function of `seed` and
// `options`: the same seed replays the same schedule. Two faults never
// overlap on the same process, nor on the same proxy; faults on different
// targets may.
std::vector<Fault> MakeSchedule(uint64_t seed, const ScheduleOptions& options);

}  // namespace tcc::chaos

#endif  // TCC_TESTS_CHAOS_FAULT_SCHEDULE_H_
