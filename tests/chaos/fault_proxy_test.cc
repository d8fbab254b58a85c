#include "support/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "support/subprocess.h"

namespace tcc::testing {
namespace {

// A TCP server on 127.0.0.1 that echoes what it reads and counts it.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] {
      while (true) {
        int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        fds_.push_back(fd);
        echo_threads_.emplace_back([this, fd] {
          char buffer[4096];
          ssize_t n;
          while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
            received_ += n;
            if (send(fd, buffer, n, MSG_NOSIGNAL) != n) break;
          }
          shutdown(fd, SHUT_RDWR);
        });
      }
    });
  }
  ~EchoServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    for (auto& t : echo_threads_) t.join();
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }
  int port() const { return port_; }
  int64_t received() const { return received_.load(); }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int64_t> received_{0};
  std::thread accept_thread_;
  // Only touched by the accept thread, then by the destructor after it.
  std::vector<int> fds_;
  std::vector<std::thread> echo_threads_;
};

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

// What one read within `limit` gives: the bytes, "" on timeout, or "<closed>"
// if the connection was closed or reset.
std::string ReadSome(int fd, absl::Duration limit) {
  pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(limit))) <= 0) {
    return "";
  }
  char buffer[4096];
  ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
  if (n <= 0) return "<closed>";
  return std::string(buffer, n);
}

bool Send(int fd, const std::string& data) {
  return send(fd, data.data(), data.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(data.size());
}

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto proxy = FaultProxy::Start(/*seed=*/1);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
    proxy_->SetTarget(server_.port());
  }

  EchoServer server_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(FaultProxyTest, ForwardsBothWays) {
  int fd = Connect(proxy_->port());
  ASSERT_TRUE(Send(fd, "hello"));
  EXPECT_EQ(ReadSome(fd, absl::Seconds(5)), "hello");
  close(fd);
}

TEST_F(FaultProxyTest, DelayHoldsEachChunkBack) {
  proxy_->SetDelay(absl::Milliseconds(200));
  int fd = Connect(proxy_->port());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Send(fd, "slow"));
  EXPECT_EQ(ReadSome(fd, absl::Seconds(5)), "slow");
  // Delayed on the way in and on the way out.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(400));
  close(fd);
}

TEST_F(FaultProxyTest, RefuseCutsOpenConnectionsAndClosesNewOnes) {
  int open_fd = Connect(proxy_->port());
  ASSERT_TRUE(Send(open_fd, "a"));
  ASSERT_EQ(ReadSome(open_fd, absl::Seconds(5)), "a");
  proxy_->SetMode(ProxyMode::kRefuse);
  EXPECT_EQ(ReadSome(open_fd, absl::Seconds(5)), "<closed>");
  int new_fd = Connect(proxy_->port());
  EXPECT_EQ(ReadSome(new_fd, absl::Seconds(5)), "<closed>");
  proxy_->SetMode(ProxyMode::kPass);
  int later_fd = Connect(proxy_->port());
  ASSERT_TRUE(Send(later_fd, "b"));
  EXPECT_EQ(ReadSome(later_fd, absl::Seconds(5)), "b");
  EXPECT_GE(proxy_->stats().refused, 1);
  close(open_fd);
  close(new_fd);
  close(later_fd);
}

TEST_F(FaultProxyTest, DropRepliesDeliversTheRequestThenCuts) {
  int fd = Connect(proxy_->port());
  proxy_->SetMode(ProxyMode::kDropReplies);
  ASSERT_TRUE(Send(fd, "request"));
  // The server got it; the client hears nothing.
  EXPECT_TRUE(WaitFor([&] { return server_.received() == 7; }));
  EXPECT_EQ(ReadSome(fd, absl::Milliseconds(300)), "");
  // Leaving the mode cuts the connection whose stream lost bytes.
  proxy_->SetMode(ProxyMode::kPass);
  EXPECT_EQ(ReadSome(fd, absl::Seconds(5)), "<closed>");
  EXPECT_EQ(proxy_->stats().bytes_dropped, 7);
  close(fd);
}

TEST_F(FaultProxyTest, CutMidCallDeliversAtMostPartOfARequest) {
  proxy_->SetMode(ProxyMode::kCutMidCall);
  int sent = 0;
  bool cut = false;
  int fd = Connect(proxy_->port());
  // Each chunk is cut with probability 1/2: 64 chunks cannot all pass.
  for (int i = 0; i < 64 && !cut; ++i) {
    if (!Send(fd, "0123456789")) break;
    sent += 10;
    const std::string reply = ReadSome(fd, absl::Seconds(5));
    cut = reply == "<closed>";
  }
  EXPECT_TRUE(cut);
  // The cut chunk arrived in part or not at all.
  EXPECT_TRUE(WaitFor([&] { return proxy_->stats().cut == 1; }));
  EXPECT_LT(server_.received(), sent);
  EXPECT_GT(proxy_->stats().bytes_dropped, 0);
  close(fd);
}

TEST_F(FaultProxyTest, CutAllClosesEveryConnection) {
  int a = Connect(proxy_->port());
  int b = Connect(proxy_->port());
  ASSERT_TRUE(Send(a, "x"));
  ASSERT_TRUE(Send(b, "y"));
  ASSERT_EQ(ReadSome(a, absl::Seconds(5)), "x");
  ASSERT_EQ(ReadSome(b, absl::Seconds(5)), "y");
  proxy_->CutAll();
  EXPECT_EQ(ReadSome(a, absl::Seconds(5)), "<closed>");
  EXPECT_EQ(ReadSome(b, absl::Seconds(5)), "<closed>");
  close(a);
  close(b);
}

}  // namespace
}  // namespace tcc::testing
