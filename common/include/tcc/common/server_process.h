#ifndef TCC_COMMON_SERVER_PROCESS_H_
#define TCC_COMMON_SERVER_PROCESS_H_

#include <signal.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tcc {

// What every server executable (tccd, the example and benchmark
// participants) does around serving.

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

  // What a server does once it listens: writes "<port>\n" to `port_file`
  // (nothing when it is empty) through a temporary file and a rename, so
  // that a process polling for it (tests, scripts) never reads a partial
  // port, then Wait()s. Returns the signal, or UNAVAILABLE without waiting
  // when the file cannot be written.
  absl::StatusOr<int> AnnounceAndWait(const std::string& port_file,
                                      int port) const;

 private:
  StopSignals() = default;

  sigset_t signals_;
};

}  // namespace tcc

#endif  // TCC_COMMON_SERVER_PROCESS_H_
