// Runs sgemm.cu on CPU threads (cuda_host_shim.h) against a double-precision reference.
// stdin: one case per line,
//   "M N K k_split sa0 sa1 sb0 sb1 a_k_contig b_n_contig act has_bias vec_a vec_b vec_c gx gy gz
//    bias_stride bias_offset poison"
// (strides in elements, flags from mark1.kernels.cuda.raw.plan; gz > 1: split-K, the gz partial products are
// summed here as stacked_sum does on the GPU; the bias is element bias_offset + j * bias_stride of its buffer;
// poison = 1 overwrites C[0][0] with NaN after the kernel, to prove the check sees it).
// stdout: "ok <max error>" or "FAIL <max error>" per case; a NaN or infinite error is a failure outright.
#include "cuda_host_shim.h"
#include "sgemm.cu"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

struct Case {
    int M, N, K, k_split;
    long long sa0, sa1, sb0, sb1;
    int akc, bnc, act, bias, va, vb, vc;
    unsigned gx, gy, gz;
    long long bias_stride, bias_offset;
    int poison;
};

template <bool AKC, bool BNC, int ACT, bool BIAS>
void run(const Case& c, const float* A, const float* B, const float* bias, float* C) {
    launch(dim3{c.gx, c.gy, c.gz}, THREADS, [&] {
        sgemm<AKC, BNC, ACT, BIAS>(A, B, bias, c.bias_stride, C, c.M, c.N, c.K, c.k_split, c.sa0, c.sa1, c.sb0, c.sb1, c.va, c.vb,
                                   c.vc);
    });
}
template <bool AKC, bool BNC, int ACT>
void with_bias(const Case& c, const float* A, const float* B, const float* bias, float* C) {
    c.bias ? run<AKC, BNC, ACT, true>(c, A, B, bias, C) : run<AKC, BNC, ACT, false>(c, A, B, bias, C);
}
template <bool AKC, bool BNC>
void with_act(const Case& c, const float* A, const float* B, const float* bias, float* C) {
    switch (c.act) {
        case 0: with_bias<AKC, BNC, 0>(c, A, B, bias, C); break;
        case 1: with_bias<AKC, BNC, 1>(c, A, B, bias, C); break;
        case 2: with_bias<AKC, BNC, 2>(c, A, B, bias, C); break;
        default: with_bias<AKC, BNC, 3>(c, A, B, bias, C); break;
    }
}
void dispatch(const Case& c, const float* A, const float* B, const float* bias, float* C) {
    if (c.akc) c.bnc ? with_act<true, true>(c, A, B, bias, C) : with_act<true, false>(c, A, B, bias, C);
    else c.bnc ? with_act<false, true>(c, A, B, bias, C) : with_act<false, false>(c, A, B, bias, C);
}

static float* filled(size_t n, unsigned& seed) {  // 64-byte aligned, values in [-1, 1)
    size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    for (size_t i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (seed >> 8) / float(1 << 23) - 1.0f;
    }
    return p;
}

static double act_ref(int act, double x) {
    if (act == 1) return 1.0 / (1.0 + std::exp(-x));
    if (act == 2) return std::tanh(x);
    if (act == 3) return x > 0 ? x : 0;
    return x;
}

int main() {
    Case c;
    unsigned seed = 12345;
    int failures = 0;
    while (std::cin >> c.M >> c.N >> c.K >> c.k_split >> c.sa0 >> c.sa1 >> c.sb0 >> c.sb1 >> c.akc >> c.bnc >> c.act >> c.bias >>
           c.va >> c.vb >> c.vc >> c.gx >> c.gy >> c.gz >> c.bias_stride >> c.bias_offset >> c.poison) {
        size_t na = (c.M - 1) * c.sa0 + (c.K - 1) * c.sa1 + 1, nb = (c.K - 1) * c.sb0 + (c.N - 1) * c.sb1 + 1;
        size_t nbias = c.bias_offset + (c.N - 1) * c.bias_stride + 1;
        float *A = filled(na, seed), *B = filled(nb, seed), *bias_buf = filled(nbias, seed);
        const float* bias = bias_buf + c.bias_offset;
        size_t mn = size_t(c.M) * c.N;
        float* C = filled(mn * c.gz, seed);  // poisoned with noise: every element must be written
        dispatch(c, A, B, bias, C);
        for (unsigned z = 1; z < c.gz; ++z)  // split-K: add the partial products
            for (size_t i = 0; i < mn; ++i) C[i] += C[z * mn + i];
        if (c.poison) C[0] = std::nanf("");
        double worst = 0;
        bool not_finite = false;
        for (int i = 0; i < c.M; ++i)
            for (int j = 0; j < c.N; ++j) {
                double s = c.bias ? bias[j * c.bias_stride] : 0.0, mag = std::fabs(s);
                for (int k = 0; k < c.K; ++k) {
                    double t = double(A[i * c.sa0 + k * c.sa1]) * B[k * c.sb0 + j * c.sb1];
                    s += t;
                    mag += std::fabs(t);
                }
                double err = std::fabs(C[size_t(i) * c.N + j] - act_ref(c.act, s)) / (mag + 1e-30);
                if (!std::isfinite(err)) not_finite = true;  // a later finite error must not hide it
                else if (err > worst) worst = err;
            }
        bool ok = !not_finite && worst < 1e-5;
        failures += !ok;
        std::printf("%s %.3g%s\n", ok ? "ok" : "FAIL", worst, not_finite ? " (NaN or inf in the output)" : "");
        std::free(A); std::free(B); std::free(bias_buf); std::free(C);
    }
    return failures ? 1 : 0;
}
