// Runs every registered native test (optionally those whose name contains
// argv[1]) and ends with the line "N passed, N failed".
#include <cstring>
#include <exception>

#include "../common.h"
#include "harness.h"

int main(int argc, char** argv) {
    const char* filter = argc > 1 ? argv[1] : nullptr;
    int passed = 0, failed = 0;
    for (const auto& c : hobtest::registry()) {
        if (filter && !std::strstr(c.name, filter)) continue;
        hobtest::failures_in_case() = 0;
        try {
            c.fn();
        } catch (const hobtest::Abort&) {
        } catch (const std::exception& e) {
            hobtest::report(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
        }
        if (hobtest::failures_in_case() == 0) {
            passed++;
            std::printf("ok   %s\n", c.name);
        } else {
            failed++;
            std::printf("FAIL %s\n", c.name);
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
