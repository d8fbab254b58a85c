#include "echo_service.h"

namespace tcc::bench {
namespace {

grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                               const v1::BranchRequest* request,
                               v1::BranchResponse* response) {
  response->set_payload(request->payload());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* EchoService::Try(grpc::CallbackServerContext* context,
                                           const v1::BranchRequest* request,
                                           v1::BranchResponse* response) {
  if (try_delay_ <= absl::ZeroDuration() || scheduler_ == nullptr) {
    return Echo(context, request, response);
  }
  response->set_payload(request->payload());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->RunAfter(try_delay_,
                       [reactor] { reactor->Finish(grpc::Status::OK); });
  return reactor;
}

grpc::ServerUnaryReactor* EchoService::Confirm(
    grpc::CallbackServerContext* context, const v1::BranchRequest* request,
    v1::BranchResponse* response) {
  return Echo(context, request, response);
}

grpc::ServerUnaryReactor* EchoService::Cancel(
    grpc::CallbackServerContext* context, const v1::BranchRequest* request,
    v1::BranchResponse* response) {
  return Echo(context, request, response);
}

}  // namespace tcc::bench
