// Shared command-line interface, .npy I/O and small helpers for the vggdeploy C++ runners.
//
// Both runners (vgg_trt, vgg_aoti) take the same arguments; the engine sidecar reader and the
// engine-compatibility policy used by vgg_trt live here too, so vgg_common_selftest checks them
// on machines without TensorRT:
//   RUNNER MODEL --input X.npy|X.raw [--shape N,C,H,W] [--output Y.npy|Y.txt|-] [--batch B]
//          [--warmup K] [--iters K] [--device cpu|cuda] [--sidecar PATH] [--quiet]
// The input is already preprocessed float32 N x C x H x W (see cpp/README.md for the steps).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vggdeploy {

// A user-facing failure: printed as "error: ..." (+ "hint: ...") with the exit code.
struct CliError : std::runtime_error {
  int exit_code;
  std::string hint;
  CliError(const std::string& msg, int code = 2, std::string hint_ = "")
      : std::runtime_error(msg), exit_code(code), hint(std::move(hint_)) {}
};

// Exit codes match vggdeploy.errors: 2 usage, 4 artifact, 6 backend unavailable, 8 output.
constexpr int kUsage = 2;
constexpr int kArtifact = 4;
constexpr int kBackend = 6;
constexpr int kOutput = 8;

// Integer options and shape dimensions are at most int32 (as in vggdeploy's CLI and every runtime's
// batch dimension); sizes derived from them are computed with overflow checks (checked_numel).
constexpr int64_t kMaxOption = 2147483647;

struct Options {
  std::string program;
  std::string model;
  std::string input;
  std::string output = "-";      // "-" = text on stdout
  std::vector<int64_t> shape;     // required for raw input
  int64_t batch = 0;              // 0 = runner's choice (whole input, or the engine profile max)
  int64_t warmup = 0;             // [0, kMaxOption]
  int64_t iters = 1;              // [1, kMaxOption]
  std::string device;            // vgg_aoti: cpu or cuda; empty = the device the .pt2 was built for
  std::string sidecar;            // vgg_trt: default MODEL + ".json"
  bool quiet = false;
};

// A base-10 integer in [min, max]: ASCII digits with an optional '-' and nothing else (no spaces,
// '+', '0x', exponents), parsed by std::from_chars; otherwise CliError (exit 2) naming `what`.
int64_t parse_int(const std::string& what, const std::string& text, int64_t min, int64_t max);
// The product of `dims` (each >= 0) and that many float32 bytes, or CliError(`code`) naming
// `what` when a dimension is negative or the product overflows int64 / size_t.
int64_t checked_numel(const std::vector<int64_t>& dims, const std::string& what, int code = 2);
size_t checked_float_bytes(int64_t numel, const std::string& what, int code = 2);

// Parses argv; prints usage and exits 0 on --help; throws CliError on bad arguments.
Options parse_args(int argc, char** argv, const std::string& description);

// A dense float32 array in C order.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
};

// .npy (version 1.0/2.0/3.0; '<f4', C order) reader and writer, with header validation.
Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);
// Raw little-endian float32 with a shape given on the command line.
Tensor read_raw(const std::string& path, const std::vector<int64_t>& shape);
// The input named by the options (.npy by extension, anything else raw), checked to be 4-D.
Tensor load_input(const Options& opt);
// Writes logits as .npy (by extension) or text ("-" = stdout): one line per image,
// "argmax logit0 logit1 ...".
void write_output(const Options& opt, const Tensor& logits);

// Runs `infer(first_row, rows, out_logits)` over the input in chunks of `batch` rows and
// returns N x num_classes logits. `infer` returns the number of classes it wrote per row.
using InferFn = std::function<int64_t(const float*, int64_t, std::vector<float>&)>;
Tensor run_batches(const Tensor& input, int64_t batch, const InferFn& infer);

// Shared main(): parse, load, run (warm-up + timed iterations), write. `open` builds the
// runner from the options and returns its chunk function and preferred max batch (0 = any).
struct RunnerHandle {
  InferFn infer;
  int64_t max_batch = 0;
  int64_t min_batch = 1;
};
int runner_main(int argc, char** argv, const std::string& description,
                const std::function<RunnerHandle(const Options&, const Tensor&)>& open);

// ---- small utilities ---------------------------------------------------------------------------
std::string read_file(const std::string& path);
// Lower-case hex SHA-256 (OpenSSL EVP).
std::string sha256_hex(const std::string& bytes);
// Parses JSON text (nlohmann::json); throws CliError (exit 4) naming `source` when malformed.
nlohmann::json parse_json(const std::string& text, const std::string& source);

// ---- the engine sidecar NAME.engine.json ------------------------------------------------------
// Its format is vggdeploy/backends/tensorrt/sidecar.schema.json; this reads exactly the keys of
// that schema that loading a plan needs, and nothing else (no alternative spellings).
constexpr const char* kSidecarFormat = "vggdeploy.engine-sidecar";  // schema: properties.format
constexpr int kSidecarVersion = 2;                          // schema: properties.version.maximum

struct EngineSidecar {
  std::string path;
  std::string engine_sha256;     // engine.sha256
  int64_t engine_size = 0;       // engine.size
  std::string trt_version;       // tensorrt.version
  bool version_compatible = false;  // tensorrt.version_compatible
  std::string hardware_compat;   // tensorrt.hardware_compat: none | ampere+ | same-cc
  std::string gpu;               // device.name
  std::pair<int, int> compute_capability{0, 0};  // device.compute_capability
};
// Throws CliError (exit 4) naming the file and the key when it is missing, malformed or of
// another format/version.
EngineSidecar read_sidecar(const std::string& path);

// ---- engine compatibility: the policy of vggdeploy/backends/tensorrt/compat.py ----------------
// NVIDIA's rules, https://docs.nvidia.com/deeplearning/tensorrt/11.1.0/inference-library/engine-compatibility.html;
// both implementations run the cases of vggdeploy/backends/tensorrt/compat_cases.json in CI.
struct Verdict {
  std::string decision;  // accept | warn | refuse
  std::string reason;    // ok | other-gpu-model | version-mismatch | ... (see compat.py REASONS)
};
// "10.16.1.11" -> {10, 16, 1, 11}; stops at the first component that is not a number.
std::vector<int> version_numbers(const std::string& version);
Verdict judge_version(const std::string& built, bool version_compatible, const std::string& runtime);
Verdict judge_hardware(const std::string& level, const std::string& built_gpu,
                       std::pair<int, int> built_cc, const std::string& runtime_gpu,
                       std::pair<int, int> runtime_cc);
// Version first, then hardware: the first rule that fails is the reason.
Verdict judge(const EngineSidecar& built, const std::string& runtime_version,
              const std::string& runtime_gpu, std::pair<int, int> runtime_cc);

// The TensorRT and GPU a plan is about to be loaded on.
struct Machine {
  std::string trt_version;
  std::string gpu;
  std::pair<int, int> compute_capability{0, 0};
};
// The plan bytes against the sidecar (size, sha256): throws CliError (exit 4) on a mismatch.
void check_plan_integrity(const std::string& plan_path, const EngineSidecar& sidecar,
                          const std::string& plan);
// judge() for this machine: throws CliError (exit 4) saying why and how to rebuild on a refusal,
// prints a warning to stderr on "warn".
void check_compatible(const std::string& plan_path, const EngineSidecar& sidecar, const Machine& here);

}  // namespace vggdeploy
