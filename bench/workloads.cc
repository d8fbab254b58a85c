#include "workloads.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tcc/common/grpc_status.h"

namespace tcc::bench {

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int count, bool grpc_retries) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::max(1, count); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("tcc.bench_channel_index", i);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, grpc_retries ? 1 : 0);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

int RpcsPerTransaction(TransactionMode mode, int branches) {
  return mode == TransactionMode::kTcc ? 1 + 2 * branches : 1 + branches;
}

TransactionWorkload::TransactionWorkload(
    const ClientOptions& options, TransactionMode mode, int branches,
    const std::vector<std::string>& participant_names, std::string gid_prefix)
    : options_(options), mode_(mode), gid_prefix_(std::move(gid_prefix)) {
  for (auto& channel : MakeChannels(options_.target, options_.channels,
                                    options_.grpc_retries)) {
    stubs_.push_back(v1::Coordinator::NewStub(channel));
  }
  const std::string payload(options_.payload_bytes, 'x');
  for (int c = 0; c < options_.concurrency; ++c) {
    auto slot = std::make_unique<Slot>();
    for (int b = 0; b < branches; ++b) {
      const std::string& participant =
          participant_names[b % participant_names.size()];
      if (mode_ == TransactionMode::kTcc) {
        v1::BranchSpec* branch = slot->execute.add_branches();
        branch->set_participant(participant);
        branch->set_action("reserve");
        branch->set_payload(payload);
      } else {
        v1::SagaStep* step = slot->saga.add_steps();
        step->set_participant(participant);
        step->set_action("reserve");
        step->set_payload(payload);
      }
    }
    slots_.push_back(std::move(slot));
  }
}

void TransactionWorkload::Complete(Slot* slot, const grpc::Status& status,
                                   v1::Outcome outcome) {
  CallDone done = std::move(slot->done);
  if (!status.ok()) {
    std::move(done)(CallResult::kError, DescribeStatus(status));
  } else if (outcome == v1::COMMITTED) {
    std::move(done)(CallResult::kCommitted, "");
  } else {
    std::move(done)(CallResult::kRolledBack, "");
  }
}

void TransactionWorkload::Issue(int client, CallDone done) {
  Slot* slot = slots_[client].get();
  slot->done = std::move(done);
  slot->context.emplace();
  slot->context->set_deadline(
      absl::ToChronoTime(absl::Now() + options_.call_deadline));
  std::string gid =
      absl::StrCat(gid_prefix_, "-", client, "-", slot->next_seq++);
  v1::Coordinator::Stub* stub = stubs_[client % stubs_.size()].get();
  if (mode_ == TransactionMode::kTcc) {
    slot->execute.set_gid(std::move(gid));
    slot->execute_response.Clear();
    stub->async()->Execute(
        &*slot->context, &slot->execute, &slot->execute_response,
        [slot](grpc::Status status) {
          Complete(slot, status, slot->execute_response.outcome());
        });
  } else {
    slot->saga.set_gid(std::move(gid));
    slot->saga_response.Clear();
    stub->async()->Saga(&*slot->context, &slot->saga, &slot->saga_response,
                        [slot](grpc::Status status) {
                          Complete(slot, status, slot->saga_response.outcome());
                        });
  }
}

EchoWorkload::EchoWorkload(const ClientOptions& options) : options_(options) {
  for (auto& channel : MakeChannels(options_.target, options_.channels,
                                    options_.grpc_retries)) {
    stubs_.push_back(v1::Participant::NewStub(channel));
  }
  for (int c = 0; c < options_.concurrency; ++c) {
    auto slot = std::make_unique<Slot>();
    slot->request.set_gid(absl::StrCat("echo-", c));
    slot->request.set_branch_id("1");
    slot->request.set_action("echo");
    slot->request.set_payload(std::string(options_.payload_bytes, 'x'));
    slots_.push_back(std::move(slot));
  }
}

void EchoWorkload::Issue(int client, CallDone done) {
  Slot* slot = slots_[client].get();
  slot->done = std::move(done);
  slot->context.emplace();
  slot->context->set_deadline(
      absl::ToChronoTime(absl::Now() + options_.call_deadline));
  slot->response.Clear();
  stubs_[client % stubs_.size()]->async()->Try(
      &*slot->context, &slot->request, &slot->response,
      [slot](grpc::Status status) {
        CallDone done = std::move(slot->done);
        if (status.ok()) {
          std::move(done)(CallResult::kCommitted, "");
        } else {
          std::move(done)(CallResult::kError, DescribeStatus(status));
        }
      });
}

}  // namespace tcc::bench
