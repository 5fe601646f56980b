// The installed qtk.h from C++: version, type table, a quantize/dequantize round trip, and
// (with a model path) opening a GGUF file. Usage: example_cpp [MODEL.gguf]
#include <qtk.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char **argv) {
    if (std::strcmp(qtk_version(), QTK_VERSION_STRING) != 0) {
        std::fprintf(stderr, "header version %s, library %s\n", QTK_VERSION_STRING, qtk_version());
        return 1;
    }
    if (qtk_type_from_name("q4_k") != QTK_TYPE_Q4_K || std::strcmp(qtk_type_name(QTK_TYPE_Q8_0), "q8_0") != 0) {
        std::fprintf(stderr, "type table lookups failed\n");
        return 1;
    }
    std::vector<float> x(256), y(256);
    for (int i = 0; i < 256; i++) x[i] = std::sin(0.37f * (float)i);
    std::vector<unsigned char> q(qtk_row_size(QTK_TYPE_Q8_0, 256));
    qtk_error err;
    if (qtk_quantize_rows(QTK_TYPE_Q8_0, x.data(), q.data(), 1, 256, nullptr, &err) != QTK_OK ||
        qtk_dequantize_rows(QTK_TYPE_Q8_0, q.data(), y.data(), 1, 256, &err) != QTK_OK) {
        std::fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    double e2 = 0;
    for (int i = 0; i < 256; i++) e2 += (double)(x[i] - y[i]) * (x[i] - y[i]);
    // Q8_0 on this sine: relative RMSE 0.00314 (sum of x^2 = 128); 0.005 leaves a 1.6x margin.
    if (std::sqrt(e2 / 128.0) > 0.005) {
        std::fprintf(stderr, "Q8_0 round trip error %g\n", std::sqrt(e2 / 128.0));
        return 1;
    }
    if (argc > 1) {
        qtk_gguf *g = nullptr;
        if (qtk_gguf_open(argv[1], &g, &err) != QTK_OK) {
            std::fprintf(stderr, "error: %s\n", err.msg);
            return 1;
        }
        std::printf("C++: %s has %lld tensors\n", argv[1], (long long)qtk_gguf_n_tensors(g));
        qtk_gguf_close(g);
    }
    std::printf("C++: qtk %s ok\n", qtk_version());
    return 0;
}
