#include "coordinator/call_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tcc/common/logging.h"

namespace tcc::coordinator {
namespace {

v1::Phase ToWirePhase(BranchPhase phase) {
  switch (phase) {
    case BranchPhase::kTry:
      return v1::PHASE_TRY;
    case BranchPhase::kConfirm:
      return v1::PHASE_CONFIRM;
    case BranchPhase::kCancel:
      return v1::PHASE_CANCEL;
  }
  return v1::PHASE_UNSPECIFIED;
}

BranchPhase FromWirePhase(v1::Phase phase) {
  return phase == v1::PHASE_CONFIRM  ? BranchPhase::kConfirm
         : phase == v1::PHASE_CANCEL ? BranchPhase::kCancel
                                     : BranchPhase::kTry;
}

bool KnownCode(int code) {
  return code >= grpc::StatusCode::OK &&
         code <= grpc::StatusCode::UNAUTHENTICATED;
}

}  // namespace

struct CallBatcher::Batch {
  grpc::ClientContext context;
  v1::BatchRequest request;
  v1::BatchResponse response;
  std::vector<BranchCallDone> dones;
  size_t bytes = 0;
  absl::Duration deadline = absl::ZeroDuration();
};

CallBatcher::CallBatcher(std::string participant, CallBatcherOptions options,
                         PickStub pick_stub, SendOne send_one)
    : participant_(std::move(participant)),
      options_(options),
      pick_stub_(std::move(pick_stub)),
      send_one_(std::move(send_one)) {}

CallBatcher::~CallBatcher() = default;

CallBatcher::Counters CallBatcher::counters() const {
  Counters c;
  c.single_calls = single_calls_.load(std::memory_order_relaxed);
  c.batch_calls = batch_calls_.load(std::memory_order_relaxed);
  c.batched_items = batched_items_.load(std::memory_order_relaxed);
  return c;
}

void CallBatcher::Add(BranchPhase phase, v1::BranchRequest request,
                      const Metadata& metadata, absl::Duration deadline,
                      BranchCallDone done) {
  if (!batch_supported_.load(std::memory_order_relaxed)) {
    send_one_(phase, std::move(request), metadata, deadline, std::move(done));
    return;
  }
  std::vector<std::unique_ptr<Batch>> to_send;
  bool alone = false;
  {
    absl::MutexLock lock(&mu_);
    if (in_flight_ < options_.max_in_flight && queue_.empty()) {
      ++in_flight_;
      alone = true;
    } else {
      auto item = std::make_unique<v1::BatchItem>();
      item->set_phase(ToWirePhase(phase));
      *item->mutable_request() = std::move(request);
      for (const auto& [key, value] : metadata) {
        (*item->mutable_metadata())[key] = value;
      }
      const size_t bytes = item->ByteSizeLong();
      if (queue_.empty() ||
          queue_.back()->request.items_size() >= options_.max_items ||
          queue_.back()->bytes + bytes > options_.max_bytes) {
        queue_.push_back(std::make_unique<Batch>());
      }
      Batch& batch = *queue_.back();
      batch.request.mutable_items()->AddAllocated(item.release());
      batch.dones.push_back(std::move(done));
      batch.bytes += bytes;
      batch.deadline = std::max(batch.deadline, deadline);
      while (in_flight_ < options_.max_in_flight && !queue_.empty()) {
        ++in_flight_;
        to_send.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
  }
  if (alone) {  // it leaves on its own, in the slot taken above
    SendSingle(phase, std::move(request), metadata, deadline, std::move(done));
  }
  for (auto& batch : to_send) SendBatch(std::move(batch));
}

void CallBatcher::SendSingle(BranchPhase phase, v1::BranchRequest request,
                             const Metadata& metadata, absl::Duration deadline,
                             BranchCallDone done) {
  single_calls_.fetch_add(1, std::memory_order_relaxed);
  send_one_(
      phase, std::move(request), metadata, deadline,
      [this, done = std::move(done)](const grpc::Status& status,
                                     v1::BranchResponse&& response) mutable {
        CallEnded();
        std::move(done)(status, std::move(response));
      });
}

void CallBatcher::SendBatch(std::unique_ptr<Batch> batch) {
  if (!batch_supported_.load(std::memory_order_relaxed)) {
    // Queued just as the participant turned out to lack Batch.
    CallEnded();
    Unbatch(std::move(batch));
    return;
  }
  if (batch->dones.size() == 1) {
    // Alone after all: the same call it would be at a light load.
    v1::BatchItem& item = *batch->request.mutable_items(0);
    Metadata metadata(item.metadata().begin(), item.metadata().end());
    SendSingle(FromWirePhase(item.phase()), std::move(*item.mutable_request()),
               metadata, batch->deadline, std::move(batch->dones[0]));
    return;
  }
  batch_calls_.fetch_add(1, std::memory_order_relaxed);
  batched_items_.fetch_add(batch->request.items_size(),
                           std::memory_order_relaxed);
  Batch* raw = batch.release();
  raw->context.set_deadline(absl::ToChronoTime(absl::Now() + raw->deadline));
  pick_stub_()->async()->Batch(&raw->context, &raw->request, &raw->response,
                               [this, raw](grpc::Status status) {
                                 OnBatchDone(std::unique_ptr<Batch>(raw),
                                             status);
                               });
}

void CallBatcher::OnBatchDone(std::unique_ptr<Batch> batch,
                              const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    if (batch_supported_.exchange(false)) {
      LogWarning("participant ", participant_,
                 " does not implement Participant.Batch (",
                 status.error_message(),
                 "): one call per branch and phase from now on");
    }
    std::deque<std::unique_ptr<Batch>> queued;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      queued.swap(queue_);
    }
    Unbatch(std::move(batch));
    for (auto& b : queued) Unbatch(std::move(b));
    return;
  }
  CallEnded();
  // The call is gone before any `done` runs: the last one may let the pool,
  // this batcher and the channels go.
  std::vector<BranchCallDone> dones = std::move(batch->dones);
  v1::BatchResponse response = std::move(batch->response);
  batch.reset();
  const int items = static_cast<int>(dones.size());
  grpc::Status whole = status;
  if (whole.ok() && response.results_size() != items) {
    whole = grpc::Status(grpc::StatusCode::INTERNAL,
                         absl::StrCat("participant ", participant_,
                                      " answered ", response.results_size(),
                                      " results to a batch of ", items));
  }
  for (int i = 0; i < items; ++i) {
    BranchCallDone& done = dones[i];
    if (!whole.ok()) {
      std::move(done)(whole, v1::BranchResponse());
      continue;
    }
    v1::BatchResult& result = *response.mutable_results(i);
    if (!KnownCode(result.code())) {
      std::move(done)(
          grpc::Status(grpc::StatusCode::INTERNAL,
                       absl::StrCat("participant ", participant_,
                                    " answered a batch item with status code ",
                                    result.code(), ", which does not exist")),
          v1::BranchResponse());
      continue;
    }
    v1::BranchResponse reply;
    if (result.code() == grpc::StatusCode::OK) {
      *reply.mutable_payload() = std::move(*result.mutable_payload());
    }
    std::move(done)(grpc::Status(static_cast<grpc::StatusCode>(result.code()),
                                 result.message()),
                    std::move(reply));
  }
}

void CallBatcher::CallEnded() {
  std::vector<std::unique_ptr<Batch>> to_send;
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    while (in_flight_ < options_.max_in_flight && !queue_.empty()) {
      ++in_flight_;
      to_send.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  for (auto& batch : to_send) SendBatch(std::move(batch));
}

void CallBatcher::Unbatch(std::unique_ptr<Batch> batch) {
  for (int i = 0; i < batch->request.items_size(); ++i) {
    v1::BatchItem& item = *batch->request.mutable_items(i);
    Metadata metadata(item.metadata().begin(), item.metadata().end());
    send_one_(FromWirePhase(item.phase()), std::move(*item.mutable_request()),
              metadata, batch->deadline, std::move(batch->dones[i]));
  }
}

}  // namespace tcc::coordinator
