// Engine-wide definitions behind common.h.
#include "common.h"

namespace hob {

ThrownError& last_thrown() {
    thread_local ThrownError t;
    return t;
}

}  // namespace hob
