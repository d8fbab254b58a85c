#include "support/scripted_participant.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tcc::testing {

ScriptedParticipant::ScriptedParticipant(bool implements_batch)
    : implements_batch_(implements_batch) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

ScriptedParticipant::~ScriptedParticipant() { Shutdown(); }

std::string ScriptedParticipant::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void ScriptedParticipant::SetResponder(Responder responder) {
  absl::MutexLock lock(&mu_);
  responder_ = std::move(responder);
}

std::vector<ParticipantCall> ScriptedParticipant::Calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

int ScriptedParticipant::CountCalls(const std::string& phase,
                                    const std::string& gid) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& c : calls_) {
    if (c.phase == phase && (gid.empty() || c.gid == gid)) ++n;
  }
  return n;
}

bool ScriptedParticipant::WaitForCalls(const std::string& phase,
                                       const std::string& gid,
                                       int count) const {
  auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    int n = 0;
    for (const auto& c : calls_) {
      if (c.phase == phase && (gid.empty() || c.gid == gid)) ++n;
    }
    return n >= count;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
}

void ScriptedParticipant::AnswerHanging(const grpc::Status& status) {
  std::vector<Hanging> hanging;
  {
    absl::MutexLock lock(&mu_);
    hanging.swap(hanging_);
  }
  for (Hanging& h : hanging) {
    if (h.batch != nullptr && status.ok()) {
      for (int i = 0; i < h.items; ++i) h.batch->add_results();
    }
    h.reactor->Finish(status);
  }
}

void ScriptedParticipant::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  AnswerHanging(grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
  server_->Shutdown(std::chrono::system_clock::now());
}

grpc::ServerUnaryReactor* ScriptedParticipant::Handle(
    const char* phase, grpc::CallbackServerContext* ctx,
    const v1::BranchRequest* request) {
  ParticipantCall call;
  call.phase = phase;
  call.gid = request->gid();
  call.branch_id = request->branch_id();
  call.action = request->action();
  call.payload = request->payload();
  for (const auto& [k, v] : ctx->client_metadata()) {
    call.metadata.emplace(std::string(k.data(), k.size()),
                          std::string(v.data(), v.size()));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::optional<grpc::Status> answer = grpc::Status::OK;
  {
    absl::MutexLock lock(&mu_);
    calls_.push_back(call);
    if (responder_) answer = responder_(call);
    if (!answer.has_value()) {
      if (!shut_down_) {
        hanging_.push_back({reactor});
        return reactor;
      }
      answer = grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down");
    }
  }
  reactor->Finish(*answer);
  return reactor;
}

grpc::ServerUnaryReactor* ScriptedParticipant::Try(
    grpc::CallbackServerContext* ctx, const v1::BranchRequest* request,
    v1::BranchResponse* response) {
  response->set_payload("tried:" + request->branch_id());
  return Handle("Try", ctx, request);
}

grpc::ServerUnaryReactor* ScriptedParticipant::Confirm(
    grpc::CallbackServerContext* ctx, const v1::BranchRequest* request,
    v1::BranchResponse*) {
  return Handle("Confirm", ctx, request);
}

grpc::ServerUnaryReactor* ScriptedParticipant::Cancel(
    grpc::CallbackServerContext* ctx, const v1::BranchRequest* request,
    v1::BranchResponse*) {
  return Handle("Cancel", ctx, request);
}

grpc::ServerUnaryReactor* ScriptedParticipant::Batch(
    grpc::CallbackServerContext* ctx, const v1::BatchRequest* request,
    v1::BatchResponse* response) {
  if (!implements_batch_) {
    return v1::Participant::CallbackService::Batch(ctx, request, response);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::vector<std::optional<grpc::Status>> answers;
  {
    absl::MutexLock lock(&mu_);
    bool hang = false;
    for (const v1::BatchItem& item : request->items()) {
      ParticipantCall call;
      call.phase = item.phase() == v1::PHASE_TRY       ? "Try"
                   : item.phase() == v1::PHASE_CONFIRM ? "Confirm"
                   : item.phase() == v1::PHASE_CANCEL  ? "Cancel"
                                                       : "?";
      call.gid = item.request().gid();
      call.branch_id = item.request().branch_id();
      call.action = item.request().action();
      call.payload = item.request().payload();
      call.metadata.insert(item.metadata().begin(), item.metadata().end());
      call.batch_size = request->items_size();
      calls_.push_back(call);
      std::optional<grpc::Status> answer = grpc::Status::OK;
      if (responder_) answer = responder_(call);
      hang = hang || !answer.has_value();
      answers.push_back(std::move(answer));
    }
    if (hang && !shut_down_) {
      hanging_.push_back({reactor, response, request->items_size()});
      return reactor;
    }
    if (hang) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
      return reactor;
    }
  }
  for (int i = 0; i < request->items_size(); ++i) {
    v1::BatchResult* result = response->add_results();
    result->set_code(answers[i]->error_code());
    result->set_message(answers[i]->error_message());
    if (answers[i]->ok() && request->items(i).phase() == v1::PHASE_TRY) {
      result->set_payload("tried:" + request->items(i).request().branch_id());
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tcc::testing
