#include "coordinator/coordinator_service.h"

#include <utility>

#include "tcc/common/grpc_status.h"

namespace tcc::coordinator {
namespace {

// Hands `request` to `method` and finishes the reactor from whatever thread
// the answer comes on. The callback thread returns at once.
template <typename Request, typename Response, typename Method>
grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context,
                                  const Request* request, Response* response,
                                  Method method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  method(*request,
         [reactor, response](const absl::Status& status, Response result) {
           if (status.ok()) *response = std::move(result);
           reactor->Finish(ToGrpcStatus(status));
         });
  return reactor;
}

}  // namespace

#define TCC_FORWARD(Name)                                                     \
  grpc::ServerUnaryReactor* CoordinatorService::Name(                         \
      grpc::CallbackServerContext* context, const v1::Name##Request* request, \
      v1::Name##Response* response) {                                         \
    return Forward(context, request, response,                                \
                   [this](const v1::Name##Request& r, auto done) {            \
                     coordinator_->Name(r, std::move(done));                  \
                   });                                                        \
  }

TCC_FORWARD(Execute)
TCC_FORWARD(Get)
TCC_FORWARD(List)
TCC_FORWARD(Begin)
TCC_FORWARD(Try)
TCC_FORWARD(Commit)
TCC_FORWARD(Rollback)
TCC_FORWARD(Saga)

#undef TCC_FORWARD

}  // namespace tcc::coordinator
