// Concurrent deliveries for one branch, against every store: a Cancel while
// a slow Try runs, a late Try while an empty Cancel runs, two Tries, two
// Cancels, Confirm against Cancel, and free-running races. Each effect is
// applied at most once, and exactly once where it must be. Interleavings are
// forced with the stores' sync points; where the store can tell
// (PostgreSQL's pg_stat_activity), the test also waits until the second
// request is really blocked on the first one's lock.

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "barrier_store_fixture.h"
#include "gtest/gtest.h"

namespace tcc::participant::barrier_test {
namespace {

// Records "actor:point" events in order.
class EventLog {
 public:
  void Record(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  // Position of `event`, or -1.
  int IndexOf(const std::string& event) {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < events_.size(); ++i) {
      if (events_[i] == event) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

template <class Harness>
class BarrierConcurrencyTest : public BarrierStoreTest<Harness> {
 protected:
  // Called by the request holding the branch once `other` is on its way to
  // the branch's lock: where the store can tell, waits until it is blocked.
  void AwaitBlocked(absl::Notification& other_reached_lock) {
    other_reached_lock.WaitForNotification();
    const bool blocked = this->harness_.AwaitLockWaiter();
    if (Harness::kObservesLockWaits) {
      EXPECT_TRUE(blocked) << "the second request never waited for the lock";
    }
  }

  // Notifies `reached` when `actor` is about to take the branch's lock.
  void NotifyAtLock(const std::string& actor, absl::Notification* reached,
                    EventLog* log = nullptr) {
    this->SetSyncHook(
        [actor, reached, log](const std::string& who, std::string_view point) {
          if (log != nullptr) log->Record(who + ":" + std::string(point));
          if (who == actor && point == kSyncPointBeforeLock &&
              !reached->HasBeenNotified()) {
            reached->Notify();
          }
        });
  }
};
TYPED_TEST_SUITE(BarrierConcurrencyTest, StoreHarnesses, HarnessName);

TYPED_TEST(BarrierConcurrencyTest, CancelDuringASlowTryWaitsThenCompensates) {
  const BranchCall call = Call("g1");
  EventLog log;
  absl::Notification try_entered, cancel_at_lock;
  this->NotifyAtLock("cancel", &cancel_at_lock, &log);

  absl::StatusOr<BarrierResult> tried, cancelled;
  std::thread try_thread([&] {
    sync_actor = "try";
    tried = this->DeliverWith(
        call, Phase::kTry, [&](auto& txn, std::string* reply) {
          try_entered.Notify();
          this->AwaitBlocked(cancel_at_lock);
          log.Record("try:handler returns");
          return this->StandardBody(call, Phase::kTry)(txn, reply);
        });
    if (!try_entered.HasBeenNotified()) try_entered.Notify();
  });
  std::thread cancel_thread([&] {
    sync_actor = "cancel";
    try_entered.WaitForNotification();
    cancelled = this->Deliver(call, Phase::kCancel);
  });
  try_thread.join();
  cancel_thread.join();

  EXPECT_EQ(tried.value(), BarrierResult::kApplied);
  // The Cancel saw the committed Try: not empty, and it compensated.
  EXPECT_EQ(cancelled.value(), BarrierResult::kApplied);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 1);
  EXPECT_LT(log.IndexOf("try:handler returns"),
            log.IndexOf("cancel:" + std::string(kSyncPointLocked)));
}

TYPED_TEST(BarrierConcurrencyTest,
           LateTryDuringAnEmptyCancelWaitsAndIsRefused) {
  const BranchCall call = Call("g1");
  absl::Notification cancel_locked, try_at_lock;
  this->SetSyncHook([&](const std::string& who, std::string_view point) {
    if (who == "try" && point == kSyncPointBeforeLock) try_at_lock.Notify();
    // The empty Cancel holds the branch here until the Try waits for it.
    if (who == "cancel" && point == kSyncPointLocked) {
      cancel_locked.Notify();
      this->AwaitBlocked(try_at_lock);
    }
  });

  absl::StatusOr<BarrierResult> cancelled, tried;
  std::thread cancel_thread([&] {
    sync_actor = "cancel";
    cancelled = this->Deliver(call, Phase::kCancel);
    if (!cancel_locked.HasBeenNotified()) cancel_locked.Notify();
  });
  std::thread try_thread([&] {
    sync_actor = "try";
    cancel_locked.WaitForNotification();
    tried = this->Deliver(call, Phase::kTry);
  });
  cancel_thread.join();
  try_thread.join();

  EXPECT_EQ(cancelled.value(), BarrierResult::kEmptyCancel);
  EXPECT_EQ(tried.value(), BarrierResult::kRefusedAfterCancel);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), 0);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 0);
}

TYPED_TEST(BarrierConcurrencyTest, TwoTriesAtOnceRunTheHandlerOnce) {
  const BranchCall call = Call("g1");
  absl::Notification first_entered, second_at_lock;
  this->NotifyAtLock("second", &second_at_lock);

  absl::StatusOr<BarrierResult> first, second;
  std::string first_reply, second_reply;
  std::thread first_thread([&] {
    sync_actor = "first";
    first = this->DeliverWith(
        call, Phase::kTry,
        [&](auto& txn, std::string* reply) {
          first_entered.Notify();
          this->AwaitBlocked(second_at_lock);
          return this->StandardBody(call, Phase::kTry)(txn, reply);
        },
        &first_reply);
    if (!first_entered.HasBeenNotified()) first_entered.Notify();
  });
  std::thread second_thread([&] {
    sync_actor = "second";
    first_entered.WaitForNotification();
    second = this->Deliver(call, Phase::kTry, &second_reply);
  });
  first_thread.join();
  second_thread.join();

  EXPECT_EQ(first.value(), BarrierResult::kApplied);
  EXPECT_EQ(second.value(), BarrierResult::kDuplicate);
  EXPECT_EQ(first_reply, ReplyOf(call));
  EXPECT_EQ(second_reply, ReplyOf(call));
  EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), 1);
  EXPECT_EQ(this->Effect(call, Phase::kTry), 1);
}

TYPED_TEST(BarrierConcurrencyTest, TwoCancelsAtOnceCompensateOnce) {
  const BranchCall call = Call("g1");
  ASSERT_EQ(this->Deliver(call, Phase::kTry).value(), BarrierResult::kApplied);
  absl::Notification first_entered, second_at_lock;
  this->NotifyAtLock("second", &second_at_lock);

  absl::StatusOr<BarrierResult> first, second;
  std::thread first_thread([&] {
    sync_actor = "first";
    first = this->DeliverWith(
        call, Phase::kCancel, [&](auto& txn, std::string* reply) {
          first_entered.Notify();
          this->AwaitBlocked(second_at_lock);
          return this->StandardBody(call, Phase::kCancel)(txn, reply);
        });
    if (!first_entered.HasBeenNotified()) first_entered.Notify();
  });
  std::thread second_thread([&] {
    sync_actor = "second";
    first_entered.WaitForNotification();
    second = this->Deliver(call, Phase::kCancel);
  });
  first_thread.join();
  second_thread.join();

  EXPECT_EQ(first.value(), BarrierResult::kApplied);
  EXPECT_EQ(second.value(), BarrierResult::kDuplicate);
  EXPECT_EQ(this->HandlerRuns(call, Phase::kCancel), 1);
  EXPECT_EQ(this->Effect(call, Phase::kCancel), 1);
}

TYPED_TEST(BarrierConcurrencyTest, TwoEmptyCancelsAtOnceRecordOnce) {
  const BranchCall call = Call("g1");
  absl::Notification first_locked, second_at_lock;
  this->SetSyncHook([&](const std::string& who, std::string_view point) {
    if (who == "second" && point == kSyncPointBeforeLock) {
      second_at_lock.Notify();
    }
    if (who == "first" && point == kSyncPointLocked) {
      first_locked.Notify();
      this->AwaitBlocked(second_at_lock);
    }
  });

  absl::StatusOr<BarrierResult> first, second;
  std::thread first_thread([&] {
    sync_actor = "first";
    first = this->Deliver(call, Phase::kCancel);
    if (!first_locked.HasBeenNotified()) first_locked.Notify();
  });
  std::thread second_thread([&] {
    sync_actor = "second";
    first_locked.WaitForNotification();
    second = this->Deliver(call, Phase::kCancel);
  });
  first_thread.join();
  second_thread.join();

  EXPECT_EQ(first.value(), BarrierResult::kEmptyCancel);
  EXPECT_EQ(second.value(), BarrierResult::kDuplicate);
  EXPECT_EQ(this->Recorded(call), std::vector<Phase>{Phase::kCancel});
  EXPECT_EQ(this->Deliver(call, Phase::kTry).value(),
            BarrierResult::kRefusedAfterCancel);
}

// Starts `fns` on threads of their own at the same moment; joins them.
void RunTogether(const std::vector<std::function<void()>>& fns) {
  absl::Barrier* start = new absl::Barrier(static_cast<int>(fns.size()));
  std::vector<std::thread> threads;
  for (const auto& fn : fns) {
    threads.emplace_back([start, &fn] {
      // The last thread through deletes the barrier.
      if (start->Block()) delete start;
      fn();
    });
  }
  for (std::thread& t : threads) t.join();
}

int CountOf(const std::vector<absl::StatusOr<BarrierResult>>& results,
            BarrierResult wanted) {
  int n = 0;
  for (const auto& r : results) n += r.ok() && *r == wanted;
  return n;
}

TYPED_TEST(BarrierConcurrencyTest, ConfirmRacingCancelOnlyOneApplies) {
  for (int round = 0; round < 10; ++round) {
    const BranchCall call = Call(absl::StrCat("race", round));
    ASSERT_EQ(this->Deliver(call, Phase::kTry).value(),
              BarrierResult::kApplied);
    absl::StatusOr<BarrierResult> confirmed, cancelled;
    RunTogether({[&] { confirmed = this->Deliver(call, Phase::kConfirm); },
                 [&] { cancelled = this->Deliver(call, Phase::kCancel); }});
    // Exactly one wins; the other is refused and changes nothing.
    ASSERT_NE(confirmed.ok(), cancelled.ok())
        << confirmed.status() << " / " << cancelled.status();
    const absl::StatusOr<BarrierResult>& loser =
        confirmed.ok() ? cancelled : confirmed;
    EXPECT_EQ(loser.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(this->Effect(call, Phase::kConfirm), confirmed.ok() ? 1 : 0);
    EXPECT_EQ(this->Effect(call, Phase::kCancel), cancelled.ok() ? 1 : 0);
  }
}

TYPED_TEST(BarrierConcurrencyTest, RacingTriesAndCancelsApplyEachEffectOnce) {
  for (int round = 0; round < 25; ++round) {
    SCOPED_TRACE(round);
    const BranchCall call = Call(absl::StrCat("race", round));
    std::vector<absl::StatusOr<BarrierResult>> tries(2), cancels(2);
    RunTogether({[&] { tries[0] = this->Deliver(call, Phase::kTry); },
                 [&] { cancels[0] = this->Deliver(call, Phase::kCancel); },
                 [&] { tries[1] = this->Deliver(call, Phase::kTry); },
                 [&] { cancels[1] = this->Deliver(call, Phase::kCancel); }});
    for (const auto& r : tries) ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& r : cancels) ASSERT_TRUE(r.ok()) << r.status();

    const int try_effect = this->Effect(call, Phase::kTry);
    ASSERT_LE(try_effect, 1);
    // A Cancel compensates exactly when the Try applied.
    EXPECT_EQ(this->Effect(call, Phase::kCancel), try_effect);
    EXPECT_EQ(this->HandlerRuns(call, Phase::kTry), try_effect);
    EXPECT_EQ(this->HandlerRuns(call, Phase::kCancel), try_effect);
    EXPECT_EQ(CountOf(cancels, BarrierResult::kDuplicate), 1);
    if (try_effect == 1) {
      EXPECT_EQ(CountOf(tries, BarrierResult::kApplied), 1);
      EXPECT_EQ(CountOf(tries, BarrierResult::kDuplicate), 1);
      EXPECT_EQ(CountOf(cancels, BarrierResult::kApplied), 1);
    } else {
      EXPECT_EQ(CountOf(tries, BarrierResult::kRefusedAfterCancel), 2);
      EXPECT_EQ(CountOf(cancels, BarrierResult::kEmptyCancel), 1);
    }
  }
}

}  // namespace
}  // namespace tcc::participant::barrier_test
