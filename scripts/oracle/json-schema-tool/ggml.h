// Stands in for ggml.h when llama.cpp's common/json.cpp is compiled alone:
// it needs only the assertion macro (a failed one ends the tool, as in ggml).
#pragma once

#include <cstdio>
#include <cstdlib>

#define GGML_ASSERT(x)                                                        \
    do {                                                                      \
        if (!(x)) {                                                           \
            std::fprintf(stderr, "%s:%d: GGML_ASSERT(%s) failed\n", __FILE__, __LINE__, #x); \
            std::abort();                                                     \
        }                                                                     \
    } while (0)
