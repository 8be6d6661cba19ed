// Block geometry of every tensor type id, from the GGUF/ggml definitions.
#include "types.h"

namespace hob {

namespace {

constexpr uint32_t kMaxId = 40;

// Indexed by id; a null name marks ids that were removed or never used.
const TypeTraits kTraits[kMaxId] = {
    /* 0 */ {"F32", 1, 4},
    /* 1 */ {"F16", 1, 2},
    /* 2 */ {"Q4_0", 32, 18},
    /* 3 */ {"Q4_1", 32, 20},
    /* 4 */ {nullptr, 0, 0},  // Q4_2, removed
    /* 5 */ {nullptr, 0, 0},  // Q4_3, removed
    /* 6 */ {"Q5_0", 32, 22},
    /* 7 */ {"Q5_1", 32, 24},
    /* 8 */ {"Q8_0", 32, 34},
    /* 9 */ {"Q8_1", 32, 36},
    /* 10 */ {"Q2_K", 256, 84},
    /* 11 */ {"Q3_K", 256, 110},
    /* 12 */ {"Q4_K", 256, 144},
    /* 13 */ {"Q5_K", 256, 176},
    /* 14 */ {"Q6_K", 256, 210},
    /* 15 */ {"Q8_K", 256, 292},
    /* 16 */ {"IQ2_XXS", 256, 66},
    /* 17 */ {"IQ2_XS", 256, 74},
    /* 18 */ {"IQ3_XXS", 256, 98},
    /* 19 */ {"IQ1_S", 256, 50},
    /* 20 */ {"IQ4_NL", 32, 18},
    /* 21 */ {"IQ3_S", 256, 110},
    /* 22 */ {"IQ2_S", 256, 82},
    /* 23 */ {"IQ4_XS", 256, 136},
    /* 24 */ {"I8", 1, 1},
    /* 25 */ {"I16", 1, 2},
    /* 26 */ {"I32", 1, 4},
    /* 27 */ {"I64", 1, 8},
    /* 28 */ {"F64", 1, 8},
    /* 29 */ {"IQ1_M", 256, 56},
    /* 30 */ {"BF16", 1, 2},
    /* 31 */ {nullptr, 0, 0},  // Q4_0_4_4, removed
    /* 32 */ {nullptr, 0, 0},  // Q4_0_4_8, removed
    /* 33 */ {nullptr, 0, 0},  // Q4_0_8_8, removed
    /* 34 */ {"TQ1_0", 256, 54},
    /* 35 */ {"TQ2_0", 256, 66},
    /* 36 */ {nullptr, 0, 0},  // IQ4_NL_4_4, removed
    /* 37 */ {nullptr, 0, 0},  // IQ4_NL_4_8, removed
    /* 38 */ {nullptr, 0, 0},  // IQ4_NL_8_8, removed
    /* 39 */ {"MXFP4", 32, 17},
};

}  // namespace

const TypeTraits* type_traits(uint32_t id) {
    if (id >= kMaxId || kTraits[id].name == nullptr) return nullptr;
    return &kTraits[id];
}

const char* type_name(TypeId t) {
    const TypeTraits* tr = type_traits((uint32_t)t);
    return tr ? tr->name : "unknown";
}

}  // namespace hob
