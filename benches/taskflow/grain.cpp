// Taskflow (C++, work stealing) on the workload of taskloom's granularity benchmark
// (examples/grain.rs, scripts/dask_grain.py): n independent calibrated spin tasks of
// 1, 10, 100 and 1000 us, then a tree reduction with fan-in 8; 1 and 2 workers, best
// of 5. Built and run by benches/taskflow/run.sh (Taskflow's headers: TASKFLOW_INCLUDE).
#include <taskflow/taskflow.hpp>
#include <chrono>
#include <cstdio>
#include <vector>
static inline uint64_t work(uint64_t seed, uint64_t it) { uint64_t x = seed | 1; for (uint64_t i = 0; i < it; ++i) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; } return x; }
static uint64_t calibrate(double target_s) {
  uint64_t it = 1000;
  for (;;) { auto s = std::chrono::steady_clock::now(); volatile uint64_t r = work(7, it); (void)r;
    double e = std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
    if (e >= 0.05) return (uint64_t)(it * target_s / e); it *= 2; }
}
int main() {
  for (int us : {1, 10, 100, 1000}) {
    uint64_t it = calibrate(us * 1e-6);
    size_t n = std::min<size_t>(100000, std::max<size_t>(1000, 200000 / us));
    std::printf("task %5d us x %6zu:", us, n);
    for (int w : {1, 2}) {
      tf::Executor ex(w);
      double best = 1e9;
      for (int rep = 0; rep < 5; ++rep) {
        tf::Taskflow flow;
        std::vector<uint64_t> vals(n);
        std::vector<tf::Task> layer; layer.reserve(n);
        std::vector<size_t> slot; slot.reserve(n);
        for (size_t i = 0; i < n; ++i) { layer.push_back(flow.emplace([&vals, i, it] { vals[i] = work(i, it); })); slot.push_back(i); }
        std::vector<std::vector<uint64_t>*> keep;
        while (layer.size() > 1) {
          std::vector<tf::Task> next; std::vector<size_t> nslot;
          auto* out = new std::vector<uint64_t>((layer.size() + 7) / 8); keep.push_back(out);
          std::vector<uint64_t>* in = keep.size() == 1 ? &vals : keep[keep.size() - 2];
          for (size_t j = 0; j * 8 < layer.size(); ++j) {
            size_t lo = j * 8, hi = std::min(layer.size(), lo + 8);
            auto t = flow.emplace([in, out, lo, hi, j] { uint64_t a = 0; for (size_t k = lo; k < hi; ++k) a ^= (*in)[k]; (*out)[j] = a; });
            for (size_t k = lo; k < hi; ++k) layer[k].precede(t);
            next.push_back(t); nslot.push_back(j);
          }
          layer.swap(next); slot.swap(nslot);
        }
        auto s = std::chrono::steady_clock::now();
        ex.run(flow).wait();
        double e = std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
        if (e < best) best = e;
        for (auto* p : keep) delete p;
      }
      double ideal = n * us * 1e-6 / w;
      std::printf("  w=%d: %.1f ms (ideal %.1f, eff %.0f%%)", w, best * 1e3, ideal * 1e3, ideal / best * 100);
    }
    std::printf("\n");
  }
}
