#include "tcc/common/thread_name.h"

#include <pthread.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tcc {
namespace {
constexpr size_t kMaxNameBytes = 15;  // the kernel's TASK_COMM_LEN less NUL
}  // namespace

void NameCurrentThread(absl::string_view name) {
  const std::string truncated(name.substr(0, kMaxNameBytes));
  // Only a name too long fails, and it was cut to fit: nothing to report.
  pthread_setname_np(pthread_self(), truncated.c_str());
}

std::string IndexedThreadName(absl::string_view name, int index) {
  const std::string suffix = absl::StrCat("-", index);
  if (suffix.size() >= kMaxNameBytes) return suffix.substr(0, kMaxNameBytes);
  return absl::StrCat(name.substr(0, kMaxNameBytes - suffix.size()), suffix);
}

std::string ThreadNameWithoutIndex(absl::string_view name) {
  const size_t dash = name.rfind('-');
  if (dash == absl::string_view::npos || dash == 0 || dash + 1 == name.size()) {
    return std::string(name);
  }
  for (size_t i = dash + 1; i < name.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) {
      return std::string(name);
    }
  }
  return std::string(name.substr(0, dash));
}

std::string CurrentThreadName() {
  char buf[kMaxNameBytes + 1] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof(buf)) != 0) return "";
  return buf;
}

}  // namespace tcc
