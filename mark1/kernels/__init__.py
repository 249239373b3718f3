"""Kernels: plain functions (and .cu sources) that compute into arrays they are given.

reference.py is the readable NumPy version of every op; cpu/ holds numba @njit kernels and cuda/ holds
numba.cuda kernels and CuPy RawKernel sources. Nothing here knows about backends or dispatch.
"""
