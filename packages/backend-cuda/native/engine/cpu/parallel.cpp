// A minimal persistent thread pool: one job at a time, chunks handed out through an atomic counter.
// The caller works too, and returns only when every chunk is done.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace soo::cpu {
namespace {

// Set while this thread runs a parallel_for body: a nested parallel_for (a GEMM inside a per-head
// attention job) then runs inline instead of waiting on the busy pool.
thread_local bool in_parallel_region = false;

struct RegionGuard {
  bool saved;
  RegionGuard() : saved(in_parallel_region) { in_parallel_region = true; }
  ~RegionGuard() { in_parallel_region = saved; }
};

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; i++) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(size_t chunks, const std::function<void(size_t)>& job) {
    std::lock_guard<std::mutex> serial(run_mu_);  // one job at a time
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      chunks_ = chunks;
      next_.store(0);
      done_ = 0;
      generation_++;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mu_);
    finished_.wait(lock, [&] { return done_ == chunks_; });
    job_ = nullptr;
  }

 private:
  void work() {
    RegionGuard guard;
    size_t finished = 0;
    for (;;) {
      size_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      (*job_)(c);
      finished++;
    }
    if (finished) {
      std::lock_guard<std::mutex> lock(mu_);
      done_ += finished;
      if (done_ == chunks_) finished_.notify_all();
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
        if (stop_) return;
        seen = generation_;
      }
      work();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mu_, mu_;
  std::condition_variable wake_, finished_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t chunks_ = 0, done_ = 0;
  std::atomic<size_t> next_{0};
  uint64_t generation_ = 0;
  bool stop_ = false;
};

int configured_threads() {
  if (const char* env = std::getenv("SOO_NATIVE_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool p(configured_threads());
  return p;
}

}  // namespace

int thread_count() { return pool().size(); }

void parallel_for(size_t n, size_t min_chunk, const std::function<void(size_t, size_t)>& body) {
  if (n == 0) return;
  int threads = thread_count();
  if (threads == 1 || n <= min_chunk || in_parallel_region) {
    body(0, n);
    return;
  }
  // A few chunks per thread balances uneven rows without much overhead.
  size_t chunks = std::min<size_t>(static_cast<size_t>(threads) * 4, (n + min_chunk - 1) / min_chunk);
  size_t per = (n + chunks - 1) / chunks;
  chunks = (n + per - 1) / per;
  pool().run(chunks, [&](size_t c) {
    size_t b = c * per, e = std::min(n, b + per);
    if (b < e) body(b, e);
  });
}

}  // namespace soo::cpu
