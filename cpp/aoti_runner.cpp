// vgg_aoti: run an AOTInductor package (.pt2, from `vggdeploy build-engine RUN --backend inductor`)
// with libtorch. The package holds the compiled model and its weights; the batch dimension is
// dynamic, so any chunk size the package was exported for works.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/headeronly/version.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <cstdlib>
#include <fstream>
#include <unordered_map>
#include <iostream>
#include <memory>

#include "common.hpp"

using vggdeploy::CliError;

namespace {

// `vggdeploy build-engine --backend inductor` stores the ModelSpec JSON in the package metadata.
// The compiled model does not check static dimensions by itself (a wrong C/H/W reads out of
// bounds), so the input is checked against the spec's C x H x W before anything runs.
// Returns false when the package carries no ModelSpec.
bool check_input_shape(const std::string& model, const std::unordered_map<std::string, std::string>& meta,
                       const std::vector<int64_t>& chw) {
  for (const auto& kv : meta) {
    if (kv.second.empty() || kv.second[0] != '{') continue;
    // not JSON (some other metadata entry): discarded, no exception
    const nlohmann::json spec = nlohmann::json::parse(kv.second, nullptr, /*allow_exceptions=*/false);
    if (!spec.is_object()) continue;
    const auto format = spec.find("format");
    if (format == spec.end() || *format != "vggdeploy.modelspec") continue;
    const auto input = spec.find("input");
    if (input == spec.end() || !input->is_object()) continue;
    std::vector<int64_t> want;
    for (const char* key : {"channels", "height", "width"}) {
      const auto v = input->find(key);
      if (v != input->end() && v->is_number_integer()) want.push_back(v->get<int64_t>());
    }
    if (want.size() != 3) continue;
    if (want != chw)
      throw CliError("input is N x " + std::to_string(chw[0]) + " x " + std::to_string(chw[1]) +
                         " x " + std::to_string(chw[2]) + ", the model takes N x " +
                         std::to_string(want[0]) + " x " + std::to_string(want[1]) + " x " +
                         std::to_string(want[2]),
                     vggdeploy::kUsage, "preprocess images for this model (see cpp/README.md)");
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::shared_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  return vggdeploy::runner_main(
      argc, argv, "vgg_aoti: run a vggdeploy AOTInductor package (.pt2) with libtorch",
      [&](const vggdeploy::Options& opt, const vggdeploy::Tensor& input) {
        if (!std::ifstream(opt.model).good())
          throw CliError("AOTInductor package not found: '" + opt.model + "'", vggdeploy::kArtifact,
                         "build it with `vggdeploy build-engine RUN --backend inductor -o M.pt2`");
        try {
          loader = std::make_shared<torch::inductor::AOTIModelPackageLoader>(opt.model);
        } catch (const c10::Error& e) {
          throw CliError("cannot load '" + opt.model + "' as an AOTInductor package: " +
                             e.what_without_backtrace(),
                         vggdeploy::kArtifact,
                         "rebuild it with the torch version this runner was compiled against (" +
                             std::string(TORCH_VERSION) + ")");
        }
        // The package records the device it was compiled for; inputs must live there.
        auto meta = loader->get_metadata();
        std::string built_for = meta.count("AOTI_DEVICE_KEY") ? meta["AOTI_DEVICE_KEY"] : "cpu";
        if (!opt.device.empty() && opt.device != built_for)
          throw CliError("'" + opt.model + "' was compiled for " + built_for + ", not --device " +
                             opt.device,
                         vggdeploy::kUsage, "rebuild it with --device " + opt.device);
        const at::Device device(built_for == "cuda" ? at::kCUDA : at::kCPU);
        const std::vector<int64_t> chw(input.shape.begin() + 1, input.shape.end());
        if (!check_input_shape(opt.model, meta, chw)) {
          // No ModelSpec: fall back to AOTInductor's generated input checks (read once, at the
          // first run). They also enforce export's batch >= 2 guard unless the package was built
          // with aot_inductor.check_lowerbound=False, so they are not the default.
          setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", /*overwrite=*/0);
          if (!opt.quiet)
            std::cerr << "note: '" << opt.model << "' has no vggdeploy ModelSpec metadata; "
                      << "using AOTInductor's input checks\n";
        }
        vggdeploy::RunnerHandle handle;
        handle.infer = [&, device, chw](const float* rows, int64_t n, std::vector<float>& out) {
          c10::InferenceMode guard;
          std::vector<int64_t> shape{n};
          shape.insert(shape.end(), chw.begin(), chw.end());
          // from_blob borrows the caller's memory (no copy on CPU); the model only reads it.
          at::Tensor x = at::from_blob(const_cast<float*>(rows), shape, at::kFloat).to(device);
          std::vector<at::Tensor> outputs;
          try {
            outputs = loader->run({x});
          } catch (const c10::Error& e) {
            throw CliError(std::string("the model rejected the input: ") + e.what_without_backtrace(),
                           vggdeploy::kUsage,
                           "check that --input is preprocessed N x C x H x W for this model");
          } catch (const std::exception& e) {  // AOTInductor's input checks throw runtime_error
            throw CliError(std::string("the model rejected the input: ") + e.what(), vggdeploy::kUsage,
                           "check that --input is preprocessed N x C x H x W for this model");
          }
          if (outputs.size() != 1 || outputs[0].dim() != 2 || outputs[0].size(0) != n)
            throw CliError("unexpected outputs from '" + opt.model + "' (want one N x classes tensor)",
                           vggdeploy::kArtifact);
          at::Tensor logits = outputs[0].to(at::kCPU, at::kFloat).contiguous();
          out.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
          return logits.size(1);
        };
        return handle;
      });
}
