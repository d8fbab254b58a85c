#ifndef TCC_COMMON_LOGGING_H_
#define TCC_COMMON_LOGGING_H_

#include <string_view>

#include "absl/strings/str_cat.h"

namespace tcc {

enum class LogLevel { kInfo, kWarning, kError };

// Writes one timestamped line to stderr. Thread-safe; lines never interleave.
void LogLine(LogLevel level, std::string_view message);

// Abseil 20220623 has no absl/log: these are the project's log statements.
template <typename... Args>
void LogInfo(const Args&... args) {
  LogLine(LogLevel::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  LogLine(LogLevel::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  LogLine(LogLevel::kError, absl::StrCat(args...));
}

}  // namespace tcc

#endif  // TCC_COMMON_LOGGING_H_
