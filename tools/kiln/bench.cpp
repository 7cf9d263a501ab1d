// kiln bench: throughput and latency of one engine at one shape. Buffers live in the engine's device memory
// (through the backend interface, so the same code serves CPU and CUDA engines); each timed iteration is
// enqueue + synchronize, plus host<->device copies with --includeDataTransfers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "backends/backend.h"
#include "cli_support.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Device buffers bound to a context; released by the backend that made them.
class BoundBuffers {
 public:
  explicit BoundBuffers(backends::Backend& backend) : backend_(backend) {}
  BoundBuffers(const BoundBuffers&) = delete;
  BoundBuffers& operator=(const BoundBuffers&) = delete;
  ~BoundBuffers() {
    for (void* p : pointers_) backend_.release(p);
  }
  Expected<void*> allocate(size_t bytes) {
    KILN_ASSIGN_OR_RETURN(void* p, backend_.allocate(std::max<size_t>(bytes, 64)));
    pointers_.push_back(p);
    return p;
  }

 private:
  backends::Backend& backend_;
  std::vector<void*> pointers_;
};

struct Transfer {
  std::string name;
  void* device = nullptr;
  Tensor host;
};

double percentile(const std::vector<double>& sorted, double p) {
  // Nearest rank: the smallest value with at least p% of the samples at or below it.
  const size_t n = sorted.size();
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  return sorted[rank - 1];
}

class BenchCommand : public Command {
 public:
  explicit BenchCommand(CLI::App& root) {
    app_ = root.add_subcommand("bench", "Measure an engine's throughput and latency");
    app_->footer(kRandomInputsHelp);
    app_->add_option("engine", enginePath_, "engine file (.kiln)")->required();
    app_->add_option("--shapes", shapesText_, "input shapes (default: the profile's opt)")
        ->multi_option_policy(CLI::MultiOptionPolicy::Join);
    app_->add_option("--iterations", iterations_, "minimum timed iterations (default 10)")->check(CLI::PositiveNumber);
    app_->add_option("--warmUp", warmUpMs_, "warm-up time in ms (default 200)")->check(CLI::NonNegativeNumber);
    app_->add_option("--duration", durationS_, "minimum timed duration in s (default 3)")->check(CLI::NonNegativeNumber);
    app_->add_option("--streams", streams_, "parallel streams (only 1 for now)")->check(CLI::PositiveNumber);
    app_->add_option("--profile", profile_, "optimization profile index")->check(CLI::NonNegativeNumber);
    app_->add_option("--seed", seed_, "seed for the random inputs");
    app_->add_flag("--noCudaGraph", noCudaGraph_, "do not capture the run in a CUDA graph");
    app_->add_flag("--includeDataTransfers", transfers_, "time host->device and device->host copies too");
    app_->add_option("--json", jsonPath_, "also write the results as JSON to this file");
  }
  CLI::App* app() const override { return app_; }

  Status checkUsage() override {
    if (!shapesText_.empty()) {
      KILN_ASSIGN_OR_RETURN(plan_.shapes, parseShapeList(shapesText_, "--shapes"));
    }
    if (durationS_ > 3600) return invalidArgument("--duration is capped at 3600 s");
    if (warmUpMs_ > 3600e3) return invalidArgument("--warmUp is capped at 3600000 ms");
    return Status::ok();
  }

  Status execute() override {
    if (streams_ != 1)
      return unsupported("--streams=" + std::to_string(streams_) + ": only one stream is supported for now (the "
                         "backend interface has no stream creation yet)");
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, loadEngine(enginePath_));
    plan_.seed = seed_;
    KILN_ASSIGN_OR_RETURN(auto inputs, prepareInputs(*engine, profile_, plan_, /*verbose=*/true));
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<backends::Backend> backend, backends::createBackend(engine->device()));
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(profile_));
    context->setCudaGraphsEnabled(!noCudaGraph_);
    BoundBuffers buffers(*backend);
    // A stream of our own: CUDA graphs cannot be captured on the legacy default stream.
    KILN_ASSIGN_OR_RETURN(void* stream, backend->createStream());
    struct StreamGuard {
      backends::Backend& backend;
      void* stream;
      ~StreamGuard() { backend.destroyStream(stream); }
    } streamGuard{*backend, stream};
    std::vector<Transfer> ins, outs;
    for (const auto& [name, tensor] : inputs) {
      KILN_RETURN_IF_ERROR(context->setInputShape(name, tensor.dims()));
      KILN_ASSIGN_OR_RETURN(void* device, buffers.allocate(tensor.byteSize()));
      KILN_RETURN_IF_ERROR(backend->copyToDevice(device, tensor.data(), tensor.byteSize(), nullptr));
      KILN_RETURN_IF_ERROR(context->setTensorAddress(name, device));
      ins.push_back({name, device, tensor});
    }
    for (const TensorDesc& desc : engine->outputs()) {
      KILN_ASSIGN_OR_RETURN(Dims dims, context->tensorShape(desc.name));
      KILN_ASSIGN_OR_RETURN(Tensor host, Tensor::allocate(desc.dtype, dims));
      KILN_ASSIGN_OR_RETURN(void* device, buffers.allocate(host.byteSize()));
      KILN_RETURN_IF_ERROR(context->setTensorAddress(desc.name, device));
      outs.push_back({desc.name, device, host});
      std::printf("output '%s' %s [%s]\n", desc.name.c_str(), dataTypeName(desc.dtype).c_str(),
                  dimsToString(dims).c_str());
    }
    KILN_RETURN_IF_ERROR(backend->synchronize(nullptr));

    auto iteration = [&]() -> Status {
      if (transfers_)
        for (const Transfer& t : ins)
          KILN_RETURN_IF_ERROR(backend->copyToDevice(t.device, t.host.data(), t.host.byteSize(), stream));
      KILN_RETURN_IF_ERROR(context->enqueue(stream));
      if (transfers_)
        for (Transfer& t : outs)
          KILN_RETURN_IF_ERROR(backend->copyToHost(t.host.data(), t.device, t.host.byteSize(), stream));
      return backend->synchronize(stream);
    };

    const auto warmStart = Clock::now();
    int warmUpRuns = 0;
    do {
      KILN_RETURN_IF_ERROR(iteration().withContext("warm-up run"));
      ++warmUpRuns;
    } while (std::chrono::duration<double, std::milli>(Clock::now() - warmStart).count() < warmUpMs_);

    std::vector<double> latenciesMs;
    const auto start = Clock::now();
    while (true) {
      const auto t0 = Clock::now();
      KILN_RETURN_IF_ERROR(iteration());
      const auto t1 = Clock::now();
      latenciesMs.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (static_cast<int64_t>(latenciesMs.size()) >= iterations_ &&
          std::chrono::duration<double>(t1 - start).count() >= durationS_)
        break;
    }
    const double totalS = std::chrono::duration<double>(Clock::now() - start).count();
    return report(*engine, inputs, latenciesMs, totalS, warmUpRuns);
  }

 private:
  Status report(const Engine& engine, const std::map<std::string, Tensor>& inputs, std::vector<double> latencies,
                double totalS, int warmUpRuns) const {
    std::sort(latencies.begin(), latencies.end());
    const double mean = std::accumulate(latencies.begin(), latencies.end(), 0.0) / static_cast<double>(latencies.size());
    const double median = percentile(latencies, 50);
    const double p99 = percentile(latencies, 99);
    // Items per inference: the leading (batch) dim of the first input, 1 for a scalar input or no input.
    int64_t batch = 1;
    const std::vector<TensorDesc> declared = engine.inputs();
    if (!declared.empty()) {
      const Tensor& first = inputs.at(declared.front().name);
      if (!first.dims().empty()) batch = first.dims().front();
    }
    const double perSecond = static_cast<double>(latencies.size()) / totalS;
    const bool unstable = median > 0 && (p99 - median) / median > 0.2;

    std::printf("device    %s%s%s\n", deviceKindName(engine.device()),
                transfers_ ? " (timings include host<->device transfers)" : " (data already on the device)",
                noCudaGraph_ ? ", CUDA graphs off" : "");
    std::printf("runs      %d warm-up, %zu timed in %.3f s\n", warmUpRuns, latencies.size(), totalS);
    std::printf("throughput %.2f inferences/s, %.2f items/s (batch %lld)\n", perSecond,
                perSecond * static_cast<double>(batch), static_cast<long long>(batch));
    std::printf("latency   min %.4g  mean %.4g  median %.4g  p90 %.4g  p95 %.4g  p99 %.4g  max %.4g ms\n",
                latencies.front(), mean, median, percentile(latencies, 90), percentile(latencies, 95), p99,
                latencies.back());
    if (unstable)
      std::printf("warning   timings are unstable: p99 is %.0f%% above the median (other load on the machine?)\n",
                  100.0 * (p99 - median) / median);

    if (!jsonPath_.empty()) {
      nlohmann::json j;
      j["engine"] = enginePath_;
      j["device"] = deviceKindName(engine.device());
      nlohmann::json shapes = nlohmann::json::object();
      for (const auto& [name, t] : inputs) shapes[name] = t.dims();
      j["shapes"] = shapes;
      j["batch"] = batch;
      j["include_data_transfers"] = transfers_;
      j["no_cuda_graph"] = noCudaGraph_;
      j["warm_up_runs"] = warmUpRuns;
      j["iterations"] = latencies.size();
      j["total_s"] = totalS;
      j["inferences_per_s"] = perSecond;
      j["items_per_s"] = perSecond * static_cast<double>(batch);
      j["latency_ms"] = {{"min", latencies.front()},           {"mean", mean},
                         {"median", median},                  {"p90", percentile(latencies, 90)},
                         {"p95", percentile(latencies, 95)},  {"p99", p99},
                         {"max", latencies.back()}};
      j["unstable"] = unstable;
      std::ofstream f(jsonPath_);
      f << j.dump(2) << "\n";
      f.close();
      if (!f) return ioError("cannot write --json file '" + jsonPath_ + "'");
    }
    return Status::ok();
  }

  CLI::App* app_ = nullptr;
  std::string enginePath_, shapesText_, jsonPath_;
  int64_t iterations_ = 10;
  double warmUpMs_ = 200, durationS_ = 3;
  int streams_ = 1, profile_ = 0;
  uint64_t seed_ = 1;
  bool noCudaGraph_ = false, transfers_ = false;
  InputPlan plan_;
};

}  // namespace

std::unique_ptr<Command> makeBenchCommand(CLI::App& root) { return std::make_unique<BenchCommand>(root); }

}  // namespace kiln::cli
