// cuda_host_shim.h: just enough of CUDA C++ to run a .cu kernel on CPU threads, for tests without a GPU.
//
// Each CUDA thread of a block is a std::thread; __syncthreads is a std::barrier over the block; blocks run
// one after another, so `__shared__` can be a function-local static (shared by the block's threads, reused
// by the next block). Correctness only: nothing here says anything about speed on a GPU.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <functional>
#include <math.h>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static

struct dim3 {
    unsigned x = 0, y = 0, z = 0;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

inline thread_local dim3 threadIdx, blockIdx;
inline std::barrier<>* block_barrier = nullptr;
inline void __syncthreads() { block_barrier->arrive_and_wait(); }
using std::max;  // CUDA device code has min/max for int and float in the global namespace
using std::min;

// Runs kernel() for every thread of every block of a 3-D grid of 1-D blocks.
inline void launch(dim3 grid, unsigned threads, const std::function<void()>& kernel) {
    for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            std::barrier<> barrier(threads);
            block_barrier = &barrier;
            std::vector<std::thread> pool;
            for (unsigned t = 0; t < threads; ++t)
                pool.emplace_back([&, t] {
                    threadIdx = dim3{t, 0, 0};
                    blockIdx = dim3{bx, by, bz};
                    kernel();
                });
            for (auto& th : pool) th.join();
        }
}
