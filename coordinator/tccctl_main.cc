// tccctl: the operator's command line for tccd.
//
//   tccctl [--coordinator=127.0.0.1:7000] get GID
//   tccctl list [--state=CONFIRMING,CANCELLING] [--older_than_s=N] [--limit=N]
//   tccctl stuck [--older_than_s=300]
//
// `stuck` lists transactions that are not final and older than the given
// age, with each branch's attempts and last error, and exits 1 when there is
// any: suitable for a cron/alerting check ("pending for 5 minutes").

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tcc/v1/coordinator.grpc.pb.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7000", "tccd address.");
ABSL_FLAG(std::string, state, "",
          "list: comma-separated states (TRYING, CONFIRMING, CONFIRMED, "
          "CANCELLING, CANCELLED); empty: all.");
ABSL_FLAG(int64_t, older_than_s, -1,
          "list/stuck: only transactions created at least this long ago "
          "(stuck: default 300).");
ABSL_FLAG(int32_t, limit, 1000, "list/stuck: at most this many rows.");

namespace {

using tcc::v1::Transaction;

std::string FormatMs(int64_t ms) {
  if (ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

void PrintTransaction(const Transaction& t, bool branches) {
  std::printf("%-40s %-11s %-11s created %s%s%s\n", t.gid().c_str(),
              tcc::v1::TransactionState_Name(t.state()).c_str(),
              tcc::v1::Outcome_Name(t.outcome()).c_str(),
              FormatMs(t.create_unix_ms()).c_str(),
              t.reason().empty() ? "" : "  reason: ", t.reason().c_str());
  if (!branches) return;
  for (const auto& b : t.branches()) {
    std::printf(
        "    branch %-3s %-16s %-12s %-18s attempts=%d next=%s%s%s\n",
        b.branch_id().c_str(), b.participant().c_str(), b.action().c_str(),
        tcc::v1::BranchState_Name(b.state()).c_str(), b.attempts(),
        FormatMs(b.next_attempt_unix_ms()).c_str(),
        b.last_error().empty() ? "" : "  last error: ", b.last_error().c_str());
  }
}

int Get(tcc::v1::Coordinator::Stub& stub, const std::string& gid) {
  tcc::v1::GetRequest request;
  request.set_gid(gid);
  tcc::v1::GetResponse response;
  grpc::ClientContext context;
  grpc::Status s = stub.Get(&context, request, &response);
  if (!s.ok()) {
    std::fprintf(stderr, "get %s: %s\n", gid.c_str(),
                 s.error_message().c_str());
    return 2;
  }
  PrintTransaction(response.transaction(), true);
  return 0;
}

// Prints matching transactions page by page; returns how many, or -1.
int List(tcc::v1::Coordinator::Stub& stub,
         const std::vector<tcc::v1::TransactionState>& states,
         int64_t older_than_s, int limit, bool branches) {
  tcc::v1::ListRequest request;
  for (auto s : states) request.add_states(s);
  if (older_than_s > 0) request.set_min_age_ms(older_than_s * 1000);
  request.set_page_size(std::min(limit, 1000));
  int n = 0;
  for (;;) {
    tcc::v1::ListResponse response;
    grpc::ClientContext context;
    grpc::Status s = stub.List(&context, request, &response);
    if (!s.ok()) {
      std::fprintf(stderr, "list: %s\n", s.error_message().c_str());
      return -1;
    }
    for (const auto& t : response.transactions()) {
      if (n >= limit) return n;
      PrintTransaction(t, branches);
      ++n;
    }
    if (response.next_page_token().empty()) return n;
    request.set_page_token(response.next_page_token());
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tccctl get GID | list [--state=..] [--older_than_s=N] | stuck "
      "[--older_than_s=300]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: tccctl get GID | list | stuck (see --help)\n");
    return 2;
  }
  auto stub = tcc::v1::Coordinator::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_coordinator), grpc::InsecureChannelCredentials()));
  const std::string command = args[1];
  if (command == "get" && args.size() == 3) return Get(*stub, args[2]);
  if (command == "list") {
    std::vector<tcc::v1::TransactionState> states;
    for (absl::string_view name :
         absl::StrSplit(absl::GetFlag(FLAGS_state), ',', absl::SkipEmpty())) {
      tcc::v1::TransactionState st;
      if (!tcc::v1::TransactionState_Parse(std::string(name), &st)) {
        std::fprintf(stderr, "unknown state %s\n", std::string(name).c_str());
        return 2;
      }
      states.push_back(st);
    }
    int n = List(*stub, states, absl::GetFlag(FLAGS_older_than_s),
                 absl::GetFlag(FLAGS_limit), false);
    return n < 0 ? 2 : 0;
  }
  if (command == "stuck") {
    int64_t age = absl::GetFlag(FLAGS_older_than_s);
    if (age < 0) age = 300;
    int n =
        List(*stub, {tcc::v1::TRYING, tcc::v1::CONFIRMING, tcc::v1::CANCELLING},
             age, absl::GetFlag(FLAGS_limit), true);
    if (n < 0) return 2;
    std::printf("%d transaction(s) not final after %llds\n", n,
                static_cast<long long>(age));
    return n > 0 ? 1 : 0;
  }
  std::fprintf(stderr, "unknown command %s\n", command.c_str());
  return 2;
}
