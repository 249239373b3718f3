// sgemm.cu: C = act(A @ B + bias) in float32 for any M, N, K and any strides (CuPy RawModule source).
//
// Tiling: each block of 256 threads computes a 128 x 128 tile of C, stepping through K in slices of 8.
// Each thread keeps an 8 x 8 register tile (rows ty*4+{0..3} and 64+ty*4+{0..3}, columns likewise with
// tx), so one float4 read from shared memory feeds 4 x 8 FMAs. Slices are double-buffered: while the
// block multiplies slice t from shared buffer t%2, each thread holds its part of slice t+1 in registers
// and stores it into the other buffer afterwards: one __syncthreads per slice.
//
// Layout: strides are in elements. A_K_CONTIG says A's k dimension is contiguous (row-major A), otherwise
// its m dimension is (A is a transposed view); B_N_CONTIG likewise for B. Loads walk the contiguous
// dimension with float4 when the host found it 16-byte aligned (vec_a / vec_b); edges and any other
// strides take the bounds-checked scalar path, which reads through both strides, so no input is copied.
//
// Split-K: block z multiplies only k in [z*k_split, min(K, (z+1)*k_split)) and writes its partial product to
// slice z of C (C is then gridDim.z stacked M x N matrices, summed by a second kernel). Used when the output
// has too few tiles to fill the GPU (dW = X^T @ delta: small M x N, K = batch); k_split = K otherwise.
//
// bias is read through its stride s_bias (in elements), so a strided or offset view needs no copy.
//
// Limits: 1 <= M, N, K < 2^31; k_split a multiple of BK (keeps the shifted loads 16-byte aligned); C is
// C-contiguous (row stride N); grid = (ceil(N/128) * ceil(M/128), 1, ceil(K/k_split)).

#define BM 128
#define BN 128
#define BK 8
#define THREADS 256
#define PAD 4  // keeps the transposed shared stores off a single bank and rows 16-byte aligned
#ifndef SGEMM_MIN_BLOCKS  // blocks per SM asked of the register allocator: 1 -> ~135 registers, no spills;
#define SGEMM_MIN_BLOCKS 1  // 2 caps at 128 (two blocks resident) with small spills in the epilogues
#endif

template <int ACT>
__device__ __forceinline__ float activate(float x) {
    if (ACT == 1) {  // sigmoid, two branches so expf only sees -|x| (no overflow, NaN propagates)
        float e = expf(-fabsf(x));
        return (x >= 0.f ? 1.f : e) / (1.f + e);
    } else if (ACT == 2) {
        return tanhf(x);
    } else if (ACT == 3) {
        return x <= 0.f ? 0.f : x;  // this way round NaN propagates
    }
    return x;
}

template <bool A_K_CONTIG>
__device__ __forceinline__ void load_a(float r[4], const float* __restrict__ A, int M, int K, long long sa0,
                                       long long sa1, bool vec, int row0, int k0, int tid) {
    if (A_K_CONTIG) {  // thread reads 4 consecutive k of one row
        int gm = row0 + (tid >> 1), gk = k0 + (tid & 1) * 4;
        if (vec && gm < M && gk + 3 < K) {
            float4 v = *reinterpret_cast<const float4*>(A + gm * sa0 + gk);
            r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
        } else {
            for (int j = 0; j < 4; ++j)
                r[j] = (gm < M && gk + j < K) ? A[gm * sa0 + (gk + j) * sa1] : 0.f;
        }
    } else {  // thread reads 4 consecutive m of one k
        int gk = k0 + (tid >> 5), gm = row0 + (tid & 31) * 4;
        if (vec && gk < K && gm + 3 < M) {
            float4 v = *reinterpret_cast<const float4*>(A + gk * sa1 + gm);
            r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
        } else {
            for (int j = 0; j < 4; ++j)
                r[j] = (gk < K && gm + j < M) ? A[(gm + j) * sa0 + gk * sa1] : 0.f;
        }
    }
}

template <bool A_K_CONTIG>
__device__ __forceinline__ void store_a(float (*As)[BM + PAD], const float r[4], int tid) {
    if (A_K_CONTIG) {
        int m = tid >> 1, k = (tid & 1) * 4;
        for (int j = 0; j < 4; ++j) As[k + j][m] = r[j];
    } else {
        int k = tid >> 5, m = (tid & 31) * 4;
        *reinterpret_cast<float4*>(&As[k][m]) = make_float4(r[0], r[1], r[2], r[3]);
    }
}

template <bool B_N_CONTIG>
__device__ __forceinline__ void load_b(float r[4], const float* __restrict__ B, int K, int N, long long sb0,
                                       long long sb1, bool vec, int col0, int k0, int tid) {
    if (B_N_CONTIG) {  // thread reads 4 consecutive n of one k
        int gk = k0 + (tid >> 5), gn = col0 + (tid & 31) * 4;
        if (vec && gk < K && gn + 3 < N) {
            float4 v = *reinterpret_cast<const float4*>(B + gk * sb0 + gn);
            r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
        } else {
            for (int j = 0; j < 4; ++j)
                r[j] = (gk < K && gn + j < N) ? B[gk * sb0 + (gn + j) * sb1] : 0.f;
        }
    } else {  // B is a transposed view: thread reads 4 consecutive k of one column
        int gn = col0 + (tid >> 1), gk = k0 + (tid & 1) * 4;
        if (vec && gn < N && gk + 3 < K) {
            float4 v = *reinterpret_cast<const float4*>(B + gn * sb1 + gk);
            r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
        } else {
            for (int j = 0; j < 4; ++j)
                r[j] = (gn < N && gk + j < K) ? B[(gk + j) * sb0 + gn * sb1] : 0.f;
        }
    }
}

template <bool B_N_CONTIG>
__device__ __forceinline__ void store_b(float (*Bs)[BN + PAD], const float r[4], int tid) {
    if (B_N_CONTIG) {
        int k = tid >> 5, n = (tid & 31) * 4;
        *reinterpret_cast<float4*>(&Bs[k][n]) = make_float4(r[0], r[1], r[2], r[3]);
    } else {
        int n = tid >> 1, k = (tid & 1) * 4;
        for (int j = 0; j < 4; ++j) Bs[k + j][n] = r[j];
    }
}

template <bool A_K_CONTIG, bool B_N_CONTIG, int ACT, bool HAS_BIAS>
__global__ void __launch_bounds__(THREADS, SGEMM_MIN_BLOCKS)
sgemm(const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ bias,
      long long s_bias, float* __restrict__ C, int M, int N, int K, int k_split, long long sa0, long long sa1, long long sb0,
      long long sb1, int vec_a, int vec_b, int vec_c) {
    __shared__ __align__(16) float As[2][BK][BM + PAD];
    __shared__ __align__(16) float Bs[2][BK][BN + PAD];

    const long long k_begin = (long long)blockIdx.z * k_split;  // split-K: this block's slice of k
    A += k_begin * sa1;
    B += k_begin * sb0;
    K = min(k_split, K - (int)k_begin);
    C += (long long)blockIdx.z * M * N;

    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;
    // Tiles are numbered along grid.x, column tile fastest: grid.y would cap M at 65535 tiles (8.4 M rows).
    const int col_tiles = (N + BN - 1) / BN;
    const int row0 = int(blockIdx.x / col_tiles) * BM, col0 = int(blockIdx.x % col_tiles) * BN;

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

    float ra[4], rb[4];
    load_a<A_K_CONTIG>(ra, A, M, K, sa0, sa1, vec_a, row0, 0, tid);
    load_b<B_N_CONTIG>(rb, B, K, N, sb0, sb1, vec_b, col0, 0, tid);
    store_a<A_K_CONTIG>(As[0], ra, tid);
    store_b<B_N_CONTIG>(Bs[0], rb, tid);
    __syncthreads();  // slice 0 is in buffer 0 before anyone multiplies it

    int cur = 0;
    for (int k0 = 0; k0 < K; k0 += BK) {
        const bool has_next = k0 + BK < K;
        if (has_next) {  // issue the next slice's global loads now; they land while we compute
            load_a<A_K_CONTIG>(ra, A, M, K, sa0, sa1, vec_a, row0, k0 + BK, tid);
            load_b<B_N_CONTIG>(rb, B, K, N, sb0, sb1, vec_b, col0, k0 + BK, tid);
        }
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[8], b[8];
            float4 v;
            v = *reinterpret_cast<const float4*>(&As[cur][kk][ty * 4]);
            a[0] = v.x; a[1] = v.y; a[2] = v.z; a[3] = v.w;
            v = *reinterpret_cast<const float4*>(&As[cur][kk][64 + ty * 4]);
            a[4] = v.x; a[5] = v.y; a[6] = v.z; a[7] = v.w;
            v = *reinterpret_cast<const float4*>(&Bs[cur][kk][tx * 4]);
            b[0] = v.x; b[1] = v.y; b[2] = v.z; b[3] = v.w;
            v = *reinterpret_cast<const float4*>(&Bs[cur][kk][64 + tx * 4]);
            b[4] = v.x; b[5] = v.y; b[6] = v.z; b[7] = v.w;
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (has_next) {  // the other buffer was last read before the previous __syncthreads
            store_a<A_K_CONTIG>(As[cur ^ 1], ra, tid);
            store_b<B_N_CONTIG>(Bs[cur ^ 1], rb, tid);
        }
        __syncthreads();  // next slice stored, and this one fully read, before the buffers swap roles
        cur ^= 1;
    }

    // Epilogue: bias + activation on the accumulators, then one pass of stores (float4 where aligned).
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int r = row0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
        if (r >= M) continue;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int c = col0 + half * 64 + tx * 4;
            float v[4];
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                float x = acc[i][half * 4 + j];
                if (HAS_BIAS && c + j < N) x += bias[(c + j) * s_bias];  // any view: b[::2], a column
                v[j] = activate<ACT>(x);
            }
            float* out = C + (long long)r * N + c;
            if (vec_c && c + 3 < N) {
                *reinterpret_cast<float4*>(out) = make_float4(v[0], v[1], v[2], v[3]);
            } else {
                for (int j = 0; j < 4; ++j)
                    if (c + j < N) out[j] = v[j];
            }
        }
    }
}

// nvcc -cubin needs concrete instantiations to compile anything; CuPy's RawModule instantiates the one it
// needs by name expression, e.g. "sgemm<true, true, 1, true>".
#ifdef MARK1_INSTANTIATE_ALL
#define MARK1_SGEMM_ARGS \
    const float*, const float*, const float*, long long, float*, int, int, int, int, long long, long long, \
        long long, long long, int, int, int
template __global__ void sgemm<true, true, 0, false>(MARK1_SGEMM_ARGS);
template __global__ void sgemm<false, false, 1, true>(MARK1_SGEMM_ARGS);
template __global__ void sgemm<true, false, 2, true>(MARK1_SGEMM_ARGS);
template __global__ void sgemm<false, true, 3, true>(MARK1_SGEMM_ARGS);
#endif
