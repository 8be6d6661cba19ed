// A persistent pool of worker threads for data-parallel loops. Threads are
// created once; between jobs a worker spins briefly (jobs of one forward pass
// follow each other within microseconds) and then sleeps, so an idle pool
// costs no CPU and a pool larger than the machine does not starve it. The
// caller waiting for a job's last tasks likewise spins briefly, then sleeps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hob {

class ThreadPool {
public:
    // n_threads counts the calling thread: 1 means no workers.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Limits the threads later run() calls use (1..size()), so callers that
    // share one pool can ask for fewer. The pool itself keeps its threads.
    void set_active(int n_threads);
    int active() const { return active_; }

    // Calls fn(task, thread) for every task in [0, n_tasks), spread over the
    // pool and the calling thread; returns when all are done. thread is in
    // [0, size()), unique among concurrently running calls (per-thread scratch).
    void run(int n_tasks, const std::function<void(int task, int thread)>& fn);

private:
    // One call of run(); lives on the caller's stack.
    struct Job {
        const std::function<void(int, int)>* fn;
        int n_tasks;
        int max_threads;  // workers with an index at or above this stay out
        std::atomic<int> next{0};
        std::atomic<int> done{0};
        std::atomic<int> workers{0};  // workers that joined and have not left
    };

    void worker_loop(int thread);
    void work(Job& job, int thread);

    int n_threads_;
    int active_;
    std::vector<std::thread> workers_;

    Job* current_ = nullptr;  // guarded by mutex_
    std::atomic<uint64_t> generation_{0};

    std::mutex mutex_;
    std::condition_variable wake_;  // workers: a new job
    std::condition_variable done_;  // the caller: the job's last task finished
    bool stop_ = false;
};

}  // namespace hob
