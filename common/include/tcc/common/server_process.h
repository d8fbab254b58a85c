#ifndef TCC_COMMON_SERVER_PROCESS_H_
#define TCC_COMMON_SERVER_PROCESS_H_

#include <signal.h>

#include <string>

#include "absl/status/status.h"

namespace tcc {

// What every server executable (tccd, the example and benchmark
// participants) does around serving.

// Writes "<port>\n" to `path` through `path`.tmp and a rename, so that a
// process polling for the file (tests, scripts) never reads a partial port.
// Errors: UNAVAILABLE when the file cannot be written or renamed.
absl::Status WritePortFile(const std::string& path, int port);

// SIGTERM and SIGINT, the signals that stop a server, taken synchronously.
// Block() them in main() before any thread starts: every thread inherits the
// mask, so a signal stays pending until Wait() takes it, and shutdown runs
// as ordinary code on the waiting thread. Block() also ignores SIGPIPE: a
// peer closing its socket must not kill the server.
class StopSignals {
 public:
  static StopSignals Block();

  // Blocks until SIGTERM or SIGINT arrives; returns its number.
  int Wait() const;

 private:
  StopSignals() = default;

  sigset_t signals_;
};

}  // namespace tcc

#endif  // TCC_COMMON_SERVER_PROCESS_H_
