#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tcc::bench {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    std::vector<std::string> argv, std::string log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command line");
  // Everything the child needs is prepared before fork(): between fork() and
  // exec() a multi-threaded parent's child may only make async-signal-safe
  // calls.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  int log_fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", log_path, ": ", strerror(errno)));
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // Dies with the benchmark, even if it is killed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  std::string name = argv[0].substr(argv[0].rfind('/') + 1);
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(pid, std::move(name), std::move(log_path)));
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Exited() {
  if (reaped_) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    wait_status_ = status;
  }
  return reaped_;
}

absl::StatusOr<int> ChildProcess::WaitForPortFile(const std::string& path,
                                                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::ifstream in(path);
    std::string line;
    int port = 0;
    if (in && std::getline(in, line) &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &port) && port > 0) {
      return port;
    }
    if (Exited()) {
      return absl::UnavailableError(
          absl::StrCat(name_, " exited (wait status ", wait_status_,
                       ") before serving; see ", log_path_));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          name_, " did not write ", path, " in time; see ", log_path_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int ChildProcess::Stop(absl::Duration grace) {
  if (Exited()) {
    int status = wait_status_;
    wait_status_ = -1;  // Later calls report "already stopped".
    return status;
  }
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (!Exited() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!Exited()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    wait_status_ = status;
  }
  int status = wait_status_;
  wait_status_ = -1;
  return status;
}

}  // namespace tcc::bench
