#include "tcc/common/logging.h"

#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tcc {

void LogLine(LogLevel level, std::string_view message) {
  static absl::Mutex mu(absl::kConstInit);
  const char* tag = level == LogLevel::kInfo      ? "I"
                    : level == LogLevel::kWarning ? "W"
                                                  : "E";
  std::string ts =
      absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone());
  absl::MutexLock lock(&mu);
  std::fprintf(stderr, "%s %s %.*s\n", tag, ts.c_str(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace tcc
