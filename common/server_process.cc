#include "tcc/common/server_process.h"

#include <pthread.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace tcc {
namespace {

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) {
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ",
                                               path, ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace

StopSignals StopSignals::Block() {
  StopSignals stop;
  sigemptyset(&stop.signals_);
  sigaddset(&stop.signals_, SIGTERM);
  sigaddset(&stop.signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop.signals_, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop;
}

int StopSignals::Wait() const {
  int signal_number = 0;
  while (sigwait(&signals_, &signal_number) != 0) {
  }
  return signal_number;
}

absl::StatusOr<int> StopSignals::AnnounceAndWait(const std::string& port_file,
                                                 int port) const {
  if (!port_file.empty()) {
    absl::Status written = WritePortFile(port_file, port);
    if (!written.ok()) return written;
  }
  return Wait();
}

}  // namespace tcc
