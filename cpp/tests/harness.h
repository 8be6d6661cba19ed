// A minimal test harness for the native engine tests: TEST(name) registers
// a case, CHECK/REQUIRE assert inside it, and main prints "N passed, N failed".
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace hobtest {

struct Case {
    const char* name;
    std::function<void()> fn;
};

inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}

struct Register {
    Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

// Thrown by REQUIRE to stop the current case.
struct Abort {};

inline int& failures_in_case() {
    static int n = 0;
    return n;
}

inline void report(const char* file, int line, const std::string& what) {
    std::fprintf(stderr, "    %s:%d: %s\n", file, line, what.c_str());
    failures_in_case()++;
}

// Directory of shared test data, relative to the repository root (tests run
// from there); HOB_TESTDATA overrides it.
inline std::string testdata_dir() {
    const char* env = std::getenv("HOB_TESTDATA");
    return env ? env : "test/data";
}

}  // namespace hobtest

#define HOB_CAT2(a, b) a##b
#define HOB_CAT(a, b) HOB_CAT2(a, b)
#define TEST(name)                                                                   \
    static void HOB_CAT(test_fn_, __LINE__)();                                       \
    static hobtest::Register HOB_CAT(test_reg_, __LINE__)(name, HOB_CAT(test_fn_, __LINE__)); \
    static void HOB_CAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) hobtest::report(__FILE__, __LINE__, "CHECK failed: " #cond);    \
    } while (0)

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            hobtest::report(__FILE__, __LINE__, "REQUIRE failed: " #cond);           \
            throw hobtest::Abort{};                                                  \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                               \
    do {                                                                             \
        const auto& va_ = (a);                                                       \
        const auto& vb_ = (b);                                                       \
        if (!(va_ == vb_)) {                                                         \
            std::ostringstream os_;                                                  \
            os_ << "CHECK_EQ failed: " #a " == " #b " (" << va_ << " vs " << vb_ << ")"; \
            hobtest::report(__FILE__, __LINE__, os_.str());                          \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        const double va_ = (a), vb_ = (b);                                           \
        if (!(std::fabs(va_ - vb_) <= (tol))) {                                      \
            std::ostringstream os_;                                                  \
            os_ << "CHECK_NEAR failed: " #a " ~ " #b " (" << va_ << " vs " << vb_    \
                << ", tol " << (tol) << ")";                                         \
            hobtest::report(__FILE__, __LINE__, os_.str());                          \
        }                                                                            \
    } while (0)

// Runs fn and checks it throws hob::Error with the given status and a
// message containing `needle`.
#define CHECK_THROWS_STATUS(expr, status_, needle)                                   \
    do {                                                                             \
        bool thrown_ = false;                                                        \
        try {                                                                        \
            expr;                                                                    \
        } catch (const hob::Error& e_) {                                             \
            thrown_ = true;                                                          \
            if (e_.status() != (status_)) {                                          \
                std::ostringstream os_;                                              \
                os_ << "wrong status " << e_.status() << " (" << e_.what() << ")";   \
                hobtest::report(__FILE__, __LINE__, os_.str());                      \
            } else if (std::string(e_.what()).find(needle) == std::string::npos) {   \
                hobtest::report(__FILE__, __LINE__,                                  \
                                std::string("message lacks \"") + (needle) + "\": " + e_.what()); \
            }                                                                        \
        }                                                                            \
        if (!thrown_) hobtest::report(__FILE__, __LINE__, "expected an error from " #expr); \
    } while (0)
