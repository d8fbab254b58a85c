#ifndef TCC_TESTS_COORDINATOR_COORDINATOR_FIXTURE_H_
#define TCC_TESTS_COORDINATOR_COORDINATOR_FIXTURE_H_

// A Coordinator wired to two in-process scripted participants ("a" and "b"),
// a real RocksDB log in a temp dir and a ManualClock. Time moves only when a
// test advances the clock.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "coordinator/coordinator.h"
#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"
#include "support/scripted_participant.h"
#include "support/subprocess.h"

namespace tcc::coordinator {

struct ExecuteResult {
  absl::Status status;
  v1::ExecuteResponse response;
};

class CoordinatorFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartCoordinator(); }
  void TearDown() override {
    a_.Shutdown();
    b_.Shutdown();
    StopCoordinator();
  }

  void StartCoordinator() {
    config::CoordinatorConfig config;
    auto* pa = config.add_participant();
    pa->set_name("a");
    pa->set_target(a_.address());
    auto* pb = config.add_participant();
    pb->set_name("b");
    pb->set_target(b_.address());
    executor_ = std::make_unique<ThreadPool>("test-exec", 2);
    TransactionLogOptions log_options;
    log_options.path = dir_.Child("log");
    log_options.callback_executor = executor_.get();
    log_ = std::move(*TransactionLog::Open(log_options));
    scheduler_ = std::make_unique<Scheduler>(&clock_, executor_.get());
    pool_ = std::move(*ParticipantPool::Create(config));
    CoordinatorOptions options;
    options.default_timeout = absl::Seconds(10);
    options.call_deadline = absl::Seconds(5);
    options.retry.initial = absl::Seconds(1);
    options.retry.multiplier = 2;
    options.retry.max = absl::Seconds(4);
    options.retry.jitter = 0;
    if (configure_) configure_(&options);
    coordinator_ =
        std::make_unique<Coordinator>(options, log_.get(), pool_.get(), &clock_,
                                      executor_.get(), scheduler_.get());
    coordinator_->Start();
  }

  void StopCoordinator() {
    if (!coordinator_) return;
    coordinator_->Stop();
    log_->Close();
    scheduler_->Shutdown();
    executor_->Shutdown();
    coordinator_.reset();
    scheduler_.reset();
    log_.reset();
    pool_.reset();
    executor_.reset();
  }

  static v1::ExecuteRequest Request(const std::string& gid) {
    v1::ExecuteRequest r;
    r.set_gid(gid);
    auto* b1 = r.add_branches();
    b1->set_participant("a");
    b1->set_action("debit");
    b1->set_payload("10");
    auto* b2 = r.add_branches();
    b2->set_participant("b");
    b2->set_action("credit");
    b2->set_payload("10");
    return r;
  }

  ExecuteResult Execute(const v1::ExecuteRequest& request) {
    ExecuteResult result;
    absl::Notification done;
    coordinator_->Execute(request,
                          [&](const absl::Status& s, v1::ExecuteResponse r) {
                            result.status = s;
                            result.response = std::move(r);
                            done.Notify();
                          });
    done.WaitForNotification();
    return result;
  }

  // Runs one Coordinator call and waits for its answer.
  template <typename Request, typename Response, typename Method>
  std::pair<absl::Status, Response> Call(Method method,
                                         const Request& request) {
    std::pair<absl::Status, Response> result;
    absl::Notification done;
    (coordinator_.get()->*method)(request,
                                  [&](const absl::Status& s, Response r) {
                                    result = {s, std::move(r)};
                                    done.Notify();
                                  });
    done.WaitForNotification();
    return result;
  }

  v1::Transaction Get(const std::string& gid) {
    auto r = log_->Get(gid);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->txn() : v1::Transaction();
  }

  bool WaitForState(const std::string& gid, v1::TransactionState state) {
    return testing::WaitFor([&] {
      auto r = log_->Get(gid);
      return r.ok() && r->txn().state() == state;
    });
  }

  testing::ScopedTempDir dir_;
  ManualClock clock_;
  testing::ScriptedParticipant a_, b_;
  std::unique_ptr<ThreadPool> executor_;
  std::unique_ptr<TransactionLog> log_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ParticipantPool> pool_;
  std::unique_ptr<Coordinator> coordinator_;
  // Applied to the options of every coordinator StartCoordinator() makes.
  std::function<void(CoordinatorOptions*)> configure_;
};

}  // namespace tcc::coordinator

#endif  // TCC_TESTS_COORDINATOR_COORDINATOR_FIXTURE_H_
