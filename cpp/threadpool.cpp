// Job hand-off: run() publishes a Job under the mutex and bumps
// `generation_`; a worker that sees a new generation joins the job under the
// mutex (counting itself in job.workers) and claims tasks until none remain.
// run() works too, waits for every task, unpublishes the job under the mutex
// (so no worker can join it any more) and then waits for the joined workers
// to leave, after which the Job on its stack may die.
#include "threadpool.h"

#include <chrono>

namespace hob {

namespace {

// How long an idle worker keeps polling before it sleeps. A decode step
// issues a job every few tens of microseconds; sleeping between those would
// add a wake-up latency to each.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Spins on cond with a pause, yielding the core now and then.
template <typename F>
void spin_until(F cond) {
    for (int polls = 1; !cond(); polls++) {
        cpu_relax();
        if (polls % 64 == 0) std::this_thread::yield();
    }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads), active_(n_threads_) {
    workers_.reserve(n_threads_ - 1);
    for (int t = 1; t < n_threads_; t++) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::set_active(int n_threads) {
    active_ = n_threads < 1 ? 1 : (n_threads > n_threads_ ? n_threads_ : n_threads);
}

void ThreadPool::work(Job& job, int thread) {
    for (;;) {
        const int task = job.next.fetch_add(1, std::memory_order_relaxed);
        if (task >= job.n_tasks) break;
        (*job.fn)(task, thread);
        if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.n_tasks && thread != 0) {
            // The last task, finished by a worker: wake the caller if it
            // has stopped spinning. Taking the mutex orders this with the
            // caller's check-then-sleep, so the wake-up cannot be lost.
            std::lock_guard<std::mutex> lock(mutex_);
            done_.notify_all();
        }
    }
}

void ThreadPool::worker_loop(int thread) {
    uint64_t seen = 0;
    for (;;) {
        // Poll for a new generation for a short while, then sleep until one comes.
        const auto deadline = std::chrono::steady_clock::now() + kSpin;
        for (int polls = 1; generation_.load(std::memory_order_acquire) == seen; polls++) {
            cpu_relax();
            if (polls % 64 != 0) continue;
            if (std::chrono::steady_clock::now() < deadline) {
                std::this_thread::yield();
                continue;
            }
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
            break;
        }
        Job* job;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stop_) return;
            seen = generation_.load(std::memory_order_acquire);
            job = current_;
            if (job && thread >= job->max_threads) job = nullptr;
            if (job) job->workers.fetch_add(1, std::memory_order_relaxed);
        }
        if (!job) continue;
        work(*job, thread);
        job->workers.fetch_sub(1, std::memory_order_release);  // last touch of job
    }
}

void ThreadPool::run(int n_tasks, const std::function<void(int, int)>& fn) {
    if (n_tasks <= 0) return;
    if (active_ == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(t, 0);
        return;
    }
    Job job;
    job.fn = &fn;
    job.n_tasks = n_tasks;
    job.max_threads = active_;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        current_ = &job;
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work(job, 0);
    // The caller waits for the workers' last tasks: polling briefly (they
    // usually end together), then sleeping, so a worker that the OS has
    // parked behind it on a busy core gets the core instead of a spinner.
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int polls = 1; job.done.load(std::memory_order_acquire) != n_tasks; polls++) {
        cpu_relax();
        if (polls % 64 != 0 || std::chrono::steady_clock::now() < deadline) continue;
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return job.done.load(std::memory_order_acquire) == n_tasks; });
        break;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        current_ = nullptr;
    }
    spin_until([&] { return job.workers.load(std::memory_order_acquire) == 0; });
}

}  // namespace hob
