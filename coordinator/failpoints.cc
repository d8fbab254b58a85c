#include "coordinator/failpoints.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {

std::atomic<bool> g_failpoints_enabled{false};

namespace {
absl::Mutex g_mu(absl::kConstInit);
std::string* g_name ABSL_GUARDED_BY(g_mu) = nullptr;
int g_remaining ABSL_GUARDED_BY(g_mu) = 0;
}  // namespace

void InitFailpointsFromEnv() {
  const char* spec = std::getenv("TCC_CRASH_AT");
  if (spec == nullptr || *spec == '\0') return;
  std::string s(spec);
  int count = 1;
  size_t at = s.find('@');
  if (at != std::string::npos) {
    if (!absl::SimpleAtoi(s.substr(at + 1), &count) || count < 1) count = 1;
    s = s.substr(0, at);
  }
  absl::MutexLock lock(&g_mu);
  delete g_name;
  g_name = new std::string(s);
  g_remaining = count;
  g_failpoints_enabled.store(true);
  LogWarning("failpoint armed: crash at ", s, " hit ", count);
}

void HitFailpoint(const char* name) {
  {
    absl::MutexLock lock(&g_mu);
    if (g_name == nullptr || *g_name != name) return;
    if (--g_remaining > 0) return;
  }
  LogWarning("failpoint ", name, ": crashing");
  kill(getpid(), SIGKILL);
  _exit(137);
}

}  // namespace tcc::coordinator
