"""The cuda backend's RBM ops (backends/base.py, "energy-based models"): the GEMMs of cuda_launch.CudaOps plus the
passes of kernels/cuda/rbm.py. `rbm_epoch` is the reference's loop (kernels/reference_rbm.py) over these ops:
each launch is queued, nothing waits for the host.
"""

from __future__ import annotations

from mark1.kernels import reference_rbm
from mark1.kernels.cuda import rbm, stacked_sum
from mark1.kernels.cuda.launch import THREADS, blocks_for
from mark1.kernels.philox import keys


def rbm_ops(cuda_ops) -> dict:
    """The op table entries, bound to one CudaOps (its array module, launcher and GEMM)."""
    xp = cuda_ops.xp

    def kernel(name, dtype):
        return rbm.kernels("float64" if dtype.char == "d" else "float32")[name]

    def draw(prob, out, seed, step, compare):
        blocks = -(-out.size // (4 if out.dtype.char == "f" else 2))
        k0, k1, s0, s1 = keys(seed, step)
        cuda_ops._launch(kernel("draw", out.dtype), blocks_for(blocks), THREADS, cuda_ops._flat(prob),
                         out.reshape(-1), k0, k1, s0, s1, compare)

    def philox_uniform(seed, step, out):
        draw(out, out, seed, step, False)

    def bernoulli(prob, seed, step, sample):
        draw(prob, sample, seed, step, True)

    def sigmoid_bernoulli(x, w, bias, seed, step, prob, sample):
        cuda_ops._gemm(x, w, prob, bias=bias, activation="sigmoid")
        bernoulli(prob, seed, step, sample)

    def cd_update(w, vbias, hbias, v0, h0, vk, hk, dw, dvb, dhb, lr, momentum, weight_decay):
        scalar = w.dtype.type
        pos = xp.empty(w.shape, w.dtype)
        neg = xp.empty(w.shape, w.dtype)
        cuda_ops._gemm(v0.T, h0, pos)
        cuda_ops._gemm(vk.T, hk, neg)
        inv_m, lr, momentum = scalar(1.0 / v0.shape[0]), scalar(lr), scalar(momentum)
        cuda_ops._launch(kernel("cd_weights", w.dtype), blocks_for(w.size), THREADS, w.reshape(-1),
                         pos.reshape(-1), neg.reshape(-1), dw.reshape(-1), inv_m, lr, momentum, scalar(weight_decay))
        for param, delta, positive, negative in ((vbias, dvb, v0, vk), (hbias, dhb, h0, hk)):
            cuda_ops._launch(kernel("cd_bias", w.dtype), blocks_for(param.size), THREADS, param, positive,
                             negative, delta, inv_m, lr, momentum)

    def _pre_activation(v, w, hbias):
        pre = xp.empty((v.shape[0], w.shape[1]), w.dtype)
        cuda_ops._gemm(v, w, pre, bias=hbias)
        return pre

    def free_energy(v, w, vbias, hbias, out):
        cuda_ops._launch(kernel("free_energy", w.dtype), blocks_for(out.size), THREADS, v,
                         _pre_activation(v, w, hbias), vbias, out)

    def pseudo_likelihood(v, w, vbias, hbias, out):
        terms = xp.empty((v.shape[1], v.shape[0]), w.dtype)
        cuda_ops._launch(kernel("pll_terms", w.dtype), blocks_for(terms.size), THREADS, v,
                         _pre_activation(v, w, hbias), w, vbias, terms)
        cuda_ops._launch(stacked_sum.kernel("float64" if w.dtype.char == "d" else "float32"), blocks_for(out.size),
                         THREADS, terms, out)

    table = {"philox_uniform": philox_uniform, "bernoulli": bernoulli, "sigmoid_bernoulli": sigmoid_bernoulli,
             "cd_update": cd_update, "free_energy": free_energy, "pseudo_likelihood": pseudo_likelihood}

    def rbm_epoch(*args):
        reference_rbm.epoch_loop({**table, "dense_forward": cuda_ops.dense_forward}, xp, *args)

    table["rbm_epoch"] = rbm_epoch
    return table
