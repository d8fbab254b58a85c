#include "chaos/fault_schedule.h"

#include <map>
#include <random>

#include "absl/strings/str_format.h"

namespace tcc::chaos {
namespace {

// Draws from mt19937_64, whose output the standard fixes, with our own
// arithmetic: the std distributions differ between standard libraries, and
// the schedule must be a pure function of the seed.
class Draw {
 public:
  explicit Draw(uint64_t seed) : rng_(seed ^ 0x6368616f73ULL) {}
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  // Uniform in [lo, hi], to the millisecond.
  absl::Duration Between(absl::Duration lo, absl::Duration hi) {
    const int64_t lo_ms = absl::ToInt64Milliseconds(lo);
    const int64_t hi_ms = absl::ToInt64Milliseconds(hi);
    if (hi_ms <= lo_ms) return lo;
    return absl::Milliseconds(lo_ms +
                              static_cast<int64_t>(Below(hi_ms - lo_ms + 1)));
  }

 private:
  std::mt19937_64 rng_;
};

// Relative weights of the fault kinds.
constexpr struct {
  FaultKind kind;
  int weight;
} kKindWeights[] = {
    {FaultKind::kKill, 30},       {FaultKind::kPause, 15},
    {FaultKind::kDelay, 15},      {FaultKind::kRefuse, 15},
    {FaultKind::kCutMidCall, 15}, {FaultKind::kDropReplies, 15},
};

FaultKind PickKind(Draw& draw) {
  int total = 0;
  for (const auto& k : kKindWeights) total += k.weight;
  int pick = static_cast<int>(draw.Below(total));
  for (const auto& k : kKindWeights) {
    if (pick < k.weight) return k.kind;
    pick -= k.weight;
  }
  return FaultKind::kKill;
}

bool HitsProcess(FaultKind kind) {
  return kind == FaultKind::kKill || kind == FaultKind::kPause;
}

}  // namespace

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return "kill-9";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kDelay:
      return "delay";
    case FaultKind::kRefuse:
      return "refuse";
    case FaultKind::kCutMidCall:
      return "cut-mid-call";
    case FaultKind::kDropReplies:
      return "drop-replies";
  }
  return "?";
}

std::string Fault::ToString() const {
  std::string what;
  switch (kind) {
    case FaultKind::kKill:
      what =
          absl::StrFormat("restart after %.3fs", absl::ToDoubleSeconds(length));
      break;
    case FaultKind::kPause:
      what =
          absl::StrFormat("SIGSTOP for %.3fs", absl::ToDoubleSeconds(length));
      break;
    case FaultKind::kDelay:
      what = absl::StrFormat("proxy +%dms per chunk for %.3fs",
                             absl::ToInt64Milliseconds(delay),
                             absl::ToDoubleSeconds(length));
      break;
    default:
      what = absl::StrFormat("proxy for %.3fs", absl::ToDoubleSeconds(length));
      break;
  }
  return absl::StrFormat("+%8.3fs  %-12s  %-9s  %s",
                         absl::ToDoubleSeconds(start), FaultKindName(kind),
                         target, what);
}

bool Fault::operator==(const Fault& other) const {
  return kind == other.kind && target == other.target && start == other.start &&
         length == other.length && delay == other.delay;
}

std::vector<Fault> MakeSchedule(uint64_t seed, const ScheduleOptions& options) {
  Draw draw(seed);
  std::vector<Fault> faults;
  // Busy-until per process ("tccd", a participant) and per proxy
  // ("proxy/<participant>").
  std::map<std::string, absl::Duration> busy_until;
  const absl::Duration last_end = options.duration - options.quiet_tail;
  const absl::Duration margin = absl::Milliseconds(200);
  absl::Duration t = options.warmup;
  while (true) {
    t += draw.Between(options.min_gap, options.max_gap);
    if (t + margin >= last_end) break;
    Fault f;
    f.kind = PickKind(draw);
    f.start = t;
    switch (f.kind) {
      case FaultKind::kKill:
        f.length = draw.Between(absl::ZeroDuration(), absl::Milliseconds(1500));
        break;
      case FaultKind::kPause:
        f.length =
            draw.Between(options.call_timeout * 1.5, options.call_timeout * 4);
        break;
      case FaultKind::kDelay:
        f.length = draw.Between(absl::Seconds(1), absl::Seconds(4));
        f.delay =
            draw.Between(absl::Milliseconds(20), options.call_timeout * 2);
        break;
      case FaultKind::kRefuse:
        f.length = draw.Between(absl::Milliseconds(300), absl::Seconds(3));
        break;
      case FaultKind::kCutMidCall:
      case FaultKind::kDropReplies:
        f.length = draw.Between(absl::Milliseconds(500), absl::Seconds(3));
        break;
    }
    // Candidates free at `t`; tccd counts three times, as it is the process
    // whose crashes matter most.
    std::vector<std::string> candidates;
    auto free = [&](const std::string& key) {
      auto it = busy_until.find(key);
      return it == busy_until.end() || it->second <= t;
    };
    const bool process = HitsProcess(f.kind);
    if (process && free("tccd")) {
      candidates.insert(candidates.end(), 3, "tccd");
    }
    for (const std::string& p : options.participants) {
      if (free(process ? p : "proxy/" + p)) candidates.push_back(p);
    }
    const uint64_t pick = draw.Below(candidates.size());
    if (candidates.empty()) continue;
    f.target = candidates[pick];
    // Too long for what is left of the window: dropped, not shortened (a
    // short pause would not outlast the call deadline).
    if (f.end() > last_end) continue;
    busy_until[process ? f.target : "proxy/" + f.target] = f.end() + margin;
    faults.push_back(std::move(f));
  }
  return faults;
}

}  // namespace tcc::chaos
