// kiln bench: throughput and latency of one engine at one shape. Buffers live in the engine's device memory
// (through the backend interface, so the same code serves CPU and CUDA engines); each timed iteration is
// enqueue + synchronize, plus host<->device copies with --includeDataTransfers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "backends/backend.h"
#include "cli_support.h"
#include "stream_timer.h"

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
    // Not marked required: `kiln bench --profile ENGINE` hands the engine to --profile's optional value, and
    // checkUsage takes it back from there.
    app_->add_option("engine", enginePath_, "engine file (.kiln), required");
    app_->add_option("--shapes", shapesText_, "input shapes (default: the profile's opt)")
        ->multi_option_policy(CLI::MultiOptionPolicy::Join);
    app_->add_option("--iterations", iterations_, "minimum timed iterations (default 10)")->check(CLI::PositiveNumber);
    app_->add_option("--warmUp", warmUpMs_, "warm-up time in ms (default 200)")->check(CLI::NonNegativeNumber);
    app_->add_option("--duration", durationS_, "minimum timed duration in s (default 3)")->check(CLI::NonNegativeNumber);
    app_->add_option("--streams", streams_, "parallel streams, each with its own context (default 1)")->check(CLI::PositiveNumber);
    // --profile alone asks for the per-layer times (the spelling); --profile=N stays the optimization
    // profile index, as in `kiln run`, so existing command lines keep their meaning.
    app_->add_option("--profile", profileText_,
                     "without a value: per-layer GPU time, as --profileLayers; with =N: optimization profile index")
        ->expected(0, 1);
    app_->add_option("--seed", seed_, "seed for the random inputs");
    app_->add_flag("--noCudaGraph", noCudaGraph_, "do not capture the run in a CUDA graph");
    app_->add_flag("--includeDataTransfers", transfers_, "time host->device and device->host copies too");
    app_->add_option("--json", jsonPath_, "also write the results as JSON to this file");
    app_->add_flag("--profileLayers,--dumpProfile", profile_layers_,
                   "also time each layer alone and list them, slowest first: on a GPU each sample replays the layer 20 "
                   "times from one CUDA graph (launch latency drops out); median of 20 samples");
  }
  CLI::App* app() const override { return app_; }

  Status checkUsage() override {
    if (app_->count("--profile") > 0) {
      if (profileText_.empty()) {
        profile_layers_ = true;
      } else {
        char* end = nullptr;
        const long index = std::strtol(profileText_.c_str(), &end, 10);
        if (*end == '\0' && index >= 0 && index <= 1'000'000) {
          profile_ = static_cast<int>(index);
        } else if (enginePath_.empty()) {
          enginePath_ = profileText_;  // `--profile ENGINE`: a bare --profile followed by the engine
          profile_layers_ = true;
        } else {
          return invalidArgument("--profile takes no value (per-layer times) or an optimization profile index >= 0, "
                                 "got '" + profileText_ + "'");
        }
      }
    }
    if (enginePath_.empty()) return invalidArgument("engine is required: kiln bench ENGINE.kiln [options]");
    if (!shapesText_.empty()) {
      KILN_ASSIGN_OR_RETURN(plan_.shapes, parseShapeList(shapesText_, "--shapes"));
    }
    if (durationS_ > 3600) return invalidArgument("--duration is capped at 3600 s");
    if (warmUpMs_ > 3600e3) return invalidArgument("--warmUp is capped at 3600000 ms");
    return Status::ok();
  }

  Status execute() override {
    if (streams_ > 64) return invalidArgument("--streams is capped at 64");
    const auto loadStart = Clock::now();
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, loadEngine(enginePath_));
    loadMs_ = msSince(loadStart);
    plan_.seed = seed_;
    KILN_ASSIGN_OR_RETURN(auto inputs, prepareInputs(*engine, profile_, plan_, /*verbose=*/true));
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<backends::Backend> backend, backends::createBackend(engine->device()));
    // One worker per stream: its own context, device buffers and stream (TensorRT's pattern for concurrency).
    // From here to the end of the first run is what an engine loaded on demand takes to answer (issue 12).
    const auto firstStart = Clock::now();
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < streams_; ++i) {
      auto w = std::make_unique<Worker>(*backend);
      KILN_RETURN_IF_ERROR(w->setUp(*engine, profile_, inputs, !noCudaGraph_).withContext("stream " + std::to_string(i)));
      workers.push_back(std::move(w));
    }
    for (const TensorDesc& desc : engine->outputs()) {
      KILN_ASSIGN_OR_RETURN(Dims dims, workers[0]->context->tensorShape(desc.name));
      std::printf("output '%s' %s [%s]\n", desc.name.c_str(), dataTypeName(desc.dtype).c_str(), dimsToString(dims).c_str());
    }
    for (auto& w : workers) KILN_RETURN_IF_ERROR(w->iterate(transfers_).status().withContext("first run"));
    firstRunMs_ = msSince(firstStart);
    const auto warmStart = Clock::now();
    int warmUpRuns = 0;
    do {
      for (auto& w : workers) KILN_RETURN_IF_ERROR(w->iterate(transfers_).status().withContext("warm-up run"));
      ++warmUpRuns;
    } while (std::chrono::duration<double, std::milli>(Clock::now() - warmStart).count() < warmUpMs_);

    const auto start = Clock::now();
    std::vector<Status> failures(workers.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < workers.size(); ++i)
      threads.emplace_back([&, i] {
        while (true) {
          auto t = workers[i]->iterate(transfers_);
          if (!t) { failures[i] = t.status(); return; }
          workers[i]->samples.push_back(*t);
          const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
          if (static_cast<int64_t>(workers[i]->samples.size()) >= iterations_ && elapsed >= durationS_) return;
        }
      });
    for (auto& t : threads) t.join();
    const double totalS = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& f : failures) KILN_RETURN_IF_ERROR(f);
    std::vector<Sample> all;
    for (auto& w : workers) all.insert(all.end(), w->samples.begin(), w->samples.end());
    KILN_RETURN_IF_ERROR(report(*engine, inputs, all, totalS, warmUpRuns));
    if (profile_layers_) return printLayerProfile(*workers[0]);
    return Status::ok();
  }

 private:
  /// One iteration's timings in ms: host wall time, host time inside enqueue, GPU time of the enqueued work,
  /// and of the copies in and out (measured every iteration, counted in the latency only with
  /// --includeDataTransfers).
  struct Sample {
    double latency = 0, enqueue = 0, compute = 0, h2d = 0, d2h = 0;
  };

  struct Worker {
    explicit Worker(backends::Backend& b) : backend(b), buffers(b) {}
    ~Worker() {
      if (stream) backend.destroyStream(stream);
    }
    Status setUp(Engine& engine, int profile, const std::map<std::string, Tensor>& inputs, bool graphs) {
      KILN_ASSIGN_OR_RETURN(context, engine.createContext(profile));
      context->setCudaGraphsEnabled(graphs);
      // A stream of our own: CUDA graphs cannot be captured on the legacy default stream.
      KILN_ASSIGN_OR_RETURN(stream, backend.createStream());
      KILN_ASSIGN_OR_RETURN(timer, StreamTimer::create(engine.device()));
      for (const auto& [name, tensor] : inputs) {
        KILN_RETURN_IF_ERROR(context->setInputShape(name, tensor.dims()));
        KILN_ASSIGN_OR_RETURN(void* device, buffers.allocate(tensor.byteSize()));
        KILN_RETURN_IF_ERROR(backend.copyToDevice(device, tensor.data(), tensor.byteSize(), stream));
        KILN_RETURN_IF_ERROR(context->setTensorAddress(name, device));
        ins.push_back({name, device, tensor});
      }
      for (const TensorDesc& desc : engine.outputs()) {
        KILN_ASSIGN_OR_RETURN(Dims dims, context->tensorShape(desc.name));
        KILN_ASSIGN_OR_RETURN(Tensor host, Tensor::allocate(desc.dtype, dims));
        KILN_ASSIGN_OR_RETURN(void* device, buffers.allocate(host.byteSize()));
        KILN_RETURN_IF_ERROR(context->setTensorAddress(desc.name, device));
        outs.push_back({desc.name, device, host});
      }
      return backend.synchronize(stream);
    }
    Expected<Sample> iterate(bool countTransfers) {
      Sample s;
      const auto t0 = Clock::now();
      KILN_RETURN_IF_ERROR(timer->start(stream));
      for (const Transfer& t : ins)
        KILN_RETURN_IF_ERROR(backend.copyToDevice(t.device, t.host.data(), t.host.byteSize(), stream));
      KILN_ASSIGN_OR_RETURN(s.h2d, timer->stopMs(stream));
      const auto t1 = Clock::now();
      KILN_RETURN_IF_ERROR(timer->start(stream));
      const auto e0 = Clock::now();
      KILN_RETURN_IF_ERROR(context->enqueue(stream));
      s.enqueue = std::chrono::duration<double, std::milli>(Clock::now() - e0).count();
      KILN_ASSIGN_OR_RETURN(s.compute, timer->stopMs(stream));
      const auto t2 = Clock::now();
      KILN_RETURN_IF_ERROR(timer->start(stream));
      for (Transfer& t : outs)
        KILN_RETURN_IF_ERROR(backend.copyToHost(t.host.data(), t.device, t.host.byteSize(), stream));
      KILN_ASSIGN_OR_RETURN(s.d2h, timer->stopMs(stream));
      const auto t3 = Clock::now();
      s.latency = std::chrono::duration<double, std::milli>(countTransfers ? t3 - t0 : t2 - t1).count();
      return s;
    }
    backends::Backend& backend;
    BoundBuffers buffers;
    std::unique_ptr<ExecutionContext> context;
    std::unique_ptr<StreamTimer> timer;
    void* stream = nullptr;
    std::vector<Transfer> ins, outs;
    std::vector<Sample> samples;
  };

  Status printLayerProfile(Worker& worker) const {
    KILN_ASSIGN_OR_RETURN(auto layers, worker.context->profileLayers(worker.stream, 20));
    double total = 0;
    for (const auto& l : layers) total += l.milliseconds;
    std::vector<size_t> order(layers.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return layers[a].milliseconds > layers[b].milliseconds; });
    std::printf("layers     %zu, %.4g ms in total when run one at a time (each layer %s; median of 20)\n",
                layers.size(), total,
                worker.backend.kind() == DeviceKind::kCpu ? "timed alone"
                                                          : "20 times per replay of a CUDA graph, per run");
    for (size_t k = 0; k < order.size(); ++k) {
      const auto& l = layers[order[k]];
      std::printf("  %8.4f ms %5.1f%%  %-18s %-32s %s\n", l.milliseconds, total > 0 ? 100 * l.milliseconds / total : 0,
                  l.op.c_str(), l.name.c_str(), l.tactic.c_str());
    }
    return Status::ok();
  }

  struct Stats {
    double min = 0, mean = 0, median = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
  };
  static Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    Stats s;
    s.min = v.front();
    s.max = v.back();
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    s.median = percentile(v, 50);
    s.p90 = percentile(v, 90);
    s.p95 = percentile(v, 95);
    s.p99 = percentile(v, 99);
    return s;
  }
  static nlohmann::json toJson(const Stats& s) {
    return {{"min", s.min}, {"mean", s.mean}, {"median", s.median}, {"p90", s.p90},
            {"p95", s.p95}, {"p99", s.p99},   {"max", s.max}};
  }

  Status report(const Engine& engine, const std::map<std::string, Tensor>& inputs, const std::vector<Sample>& samples,
                double totalS, int warmUpRuns) const {
    auto pick = [&](double Sample::*field) {
      std::vector<double> v;
      for (const auto& s : samples) v.push_back(s.*field);
      return stats(std::move(v));
    };
    const Stats latency = pick(&Sample::latency), enqueue = pick(&Sample::enqueue), compute = pick(&Sample::compute),
                h2d = pick(&Sample::h2d), d2h = pick(&Sample::d2h);
    // Items per inference: the leading (batch) dim of the first input, 1 for a scalar input or no input.
    int64_t batch = 1;
    const std::vector<TensorDesc> declared = engine.inputs();
    if (!declared.empty()) {
      const Tensor& first = inputs.at(declared.front().name);
      if (!first.dims().empty()) batch = first.dims().front();
    }
    const double perSecond = static_cast<double>(samples.size()) / totalS;
    const bool unstable = latency.median > 0 && (latency.p99 - latency.median) / latency.median > 0.2;
    const char* timeKind = engine.device() == DeviceKind::kCuda ? "GPU time, CUDA events" : "host clock";

    std::printf("device     %s%s%s, %d stream(s)\n", deviceKindName(engine.device()),
                transfers_ ? " (latency includes host<->device transfers)" : " (data already on the device)",
                noCudaGraph_ ? ", CUDA graphs off" : ", CUDA graphs on", streams_);
    std::printf("startup    engine load %.1f ms, first inference %.1f ms (context, buffers, first run; host clock)\n",
                loadMs_, firstRunMs_);
    std::printf("runs       %d warm-up, %zu timed in %.3f s\n", warmUpRuns, samples.size(), totalS);
    std::printf("throughput %.2f inferences/s, %.2f items/s (batch %lld)\n", perSecond,
                perSecond * static_cast<double>(batch), static_cast<long long>(batch));
    auto line = [](const char* what, const Stats& s) {
      std::printf("%-10s min %.4g  mean %.4g  median %.4g  p90 %.4g  p95 %.4g  p99 %.4g  max %.4g ms\n", what, s.min,
                  s.mean, s.median, s.p90, s.p95, s.p99, s.max);
    };
    line("latency", latency);
    line("enqueue", enqueue);
    std::printf("(%s)\n", timeKind);
    line("compute", compute);
    line("h2d", h2d);
    line("d2h", d2h);
    if (unstable)
      std::printf("warning    timings are unstable: p99 is %.0f%% above the median (other load on the machine?)\n",
                  100.0 * (latency.p99 - latency.median) / latency.median);

    if (!jsonPath_.empty()) {
      nlohmann::json j;
      j["engine"] = enginePath_;
      j["device"] = deviceKindName(engine.device());
      nlohmann::json shapes = nlohmann::json::object();
      for (const auto& [name, t] : inputs) shapes[name] = t.dims();
      j["shapes"] = shapes;
      j["batch"] = batch;
      j["streams"] = streams_;
      j["include_data_transfers"] = transfers_;
      j["no_cuda_graph"] = noCudaGraph_;
      j["warm_up_runs"] = warmUpRuns;
      j["iterations"] = samples.size();
      j["total_s"] = totalS;
      j["inferences_per_s"] = perSecond;
      j["items_per_s"] = perSecond * static_cast<double>(batch);
      j["latency_ms"] = toJson(latency);
      j["enqueue_ms"] = toJson(enqueue);
      j["gpu_compute_ms"] = toJson(compute);
      j["h2d_ms"] = toJson(h2d);
      j["d2h_ms"] = toJson(d2h);
      j["unstable"] = unstable;
      j["load_ms"] = loadMs_;
      j["first_inference_ms"] = firstRunMs_;
      std::ofstream f(jsonPath_);
      f << j.dump(2) << "\n";
      f.close();
      if (!f) return ioError("cannot write --json file '" + jsonPath_ + "'");
    }
    return Status::ok();
  }

  CLI::App* app_ = nullptr;
  std::string enginePath_, shapesText_, jsonPath_, profileText_;
  int64_t iterations_ = 10;
  double warmUpMs_ = 200, durationS_ = 3;
  double loadMs_ = 0, firstRunMs_ = 0;  // startup figures, set by execute()
  int streams_ = 1, profile_ = 0;
  uint64_t seed_ = 1;
  bool noCudaGraph_ = false, transfers_ = false, profile_layers_ = false;
  InputPlan plan_;
};

}  // namespace

std::unique_ptr<Command> makeBenchCommand(CLI::App& root) { return std::make_unique<BenchCommand>(root); }

}  // namespace kiln::cli
