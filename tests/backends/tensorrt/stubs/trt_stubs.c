/* Stand-ins for the few plain C entry points that TensorRT's Python bindings (tensorrt.so from the
 * tensorrt-cu12/cu13-bindings wheels) import from libnvinfer, libnvonnxparser and
 * libnvinfer_plugin: enough for the dynamic loader to resolve them so that `import tensorrt`
 * succeeds on a machine without TensorRT and the test suite can read the real API (classes, enums,
 * pybind11 signatures). They are never meant to run: each one aborts the process loudly.
 * Found with `nm -D --undefined-only tensorrt.so` (10.0 .. 11.4 import exactly these).
 * Built by scripts/fetch_trt_bindings.py, once per library, with -DLIB_NVINFER etc. */
#include <stdio.h>
#include <stdlib.h>

#define STUB(name)                                                                          \
    void *name(void) {                                                                      \
        fprintf(stderr, "vggdeploy TensorRT stub: %s() called; these stubs only let the "   \
                        "bindings import, TensorRT itself is not here\n", #name);           \
        abort();                                                                            \
    }

#ifdef LIB_NVINFER
STUB(createInferBuilder_INTERNAL)
STUB(createInferRefitter_INTERNAL)
STUB(createInferRuntime_INTERNAL)
STUB(getBuilderPluginRegistry)
STUB(getPluginRegistry)
#endif
#ifdef LIB_NVONNXPARSER
STUB(createNvOnnxParser_INTERNAL)
STUB(createNvOnnxParserRefitter_INTERNAL)
STUB(getNvOnnxParserVersion)
#endif
#ifdef LIB_NVINFER_PLUGIN
STUB(initLibNvInferPlugins)
#endif
