"""The cuda backend's launch plumbing without a GPU: CuPy and numba.cuda replaced by recording stubs.

What only a real GPU would show otherwise: numba kernels queued on CuPy's *current* stream (not numba's default
one), that stream wrapped once per (device, stream), every launch made in the context of the arrays' device
(numba's own current context is device 0), the RawKernel handed the bias's stride, and the deliberate one-block
final sum launched without numba-cuda's low-occupancy warning.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from mark1.backends import cuda_launch
from mark1.backends.cuda_launch import CudaOps, CupyLauncher
from mark1.kernels.cuda import launch as geometry
from mark1.kernels.cuda import raw

pytestmark = pytest.mark.skipif(geometry.SIMULATOR, reason="stubs the real numba.cuda; the simulator replaces it")


class FakeCupy:
    """cupy.ndarray, cupy.cuda.Device (a context manager that makes itself current) and the current stream."""

    def __init__(self) -> None:
        self.current_device = 0
        self.stream_ptr = {0: 0, 1: 0}  # per device, as CuPy keeps it; 0 = the legacy default stream
        fake = self

        class Device:
            def __init__(self, id=None):  # noqa: A002 (CuPy's name)
                self.id = fake.current_device if id is None else id

            def __enter__(self):
                self._previous, fake.current_device = fake.current_device, self.id

            def __exit__(self, *exc):
                fake.current_device = self._previous

        self.ndarray = FakeArray
        self.cuda = SimpleNamespace(Device=Device, get_current_stream=lambda: SimpleNamespace(
            ptr=fake.stream_ptr[fake.current_device]))


class FakeArray:
    def __init__(self, device, host: np.ndarray | None = None) -> None:
        self.device = device
        self.host = np.zeros((2, 2), np.float32) if host is None else host
        self.shape, self.strides, self.itemsize = self.host.shape, self.host.strides, self.host.itemsize
        self.data = SimpleNamespace(ptr=self.host.ctypes.data)
        self.__cuda_array_interface__ = {"shape": self.shape, "stream": 1, "data": (self.data.ptr, False)}


class FakeNumbaCuda:
    """external_stream / default_stream / gpus[i] / from_cuda_array_interface, recording the context they ran in."""

    def __init__(self) -> None:
        self.context: list[int] = []  # the stack of entered device contexts
        self.external: list[tuple[int, int]] = []
        fake = self

        class Context:
            def __init__(self, i):
                self.i = i

            def __enter__(self):
                fake.context.append(self.i)

            def __exit__(self, *exc):
                fake.context.pop()

        self.gpus = {0: Context(0), 1: Context(1)}
        self.wrapped: list[tuple[dict, int | None]] = []

    def external_stream(self, ptr):
        self.external.append((self.context[-1], ptr))
        return ("external", self.context[-1], ptr)

    def default_stream(self):
        return ("default", self.context[-1])

    def from_cuda_array_interface(self, desc, owner, sync):
        self.wrapped.append((desc, self.context[-1] if self.context else None))
        return owner


class RecordingKernel:
    def __init__(self, numba_cuda: FakeNumbaCuda) -> None:
        self.numba_cuda, self.launches = numba_cuda, []

    def __getitem__(self, config):
        grid, block, stream = config
        return lambda *args: self.launches.append((stream, list(self.numba_cuda.context), args))


@pytest.fixture
def stubs():
    cupy, numba_cuda = FakeCupy(), FakeNumbaCuda()
    return cupy, numba_cuda, CupyLauncher(cupy, numba_cuda), RecordingKernel(numba_cuda)


def test_numba_kernels_run_on_cupys_current_stream_wrapped_once_per_stream(stubs):
    cupy, numba_cuda, launcher, kernel = stubs
    x = FakeArray(cupy.cuda.Device(0))
    launcher(kernel, 1, 4, (x,))  # CuPy on its legacy default stream: numba's default stream
    cupy.stream_ptr[0] = 0x1000  # inside `with cupy.cuda.Stream():`
    launcher(kernel, 1, 4, (x,))
    launcher(kernel, 1, 4, (x,))
    cupy.stream_ptr[0] = 0x2000
    launcher(kernel, 1, 4, (x,))
    streams = [stream for stream, _, _ in kernel.launches]
    assert streams == [("default", 0), ("external", 0, 0x1000), ("external", 0, 0x1000), ("external", 0, 0x2000)]
    assert numba_cuda.external == [(0, 0x1000), (0, 0x2000)]  # one numba wrapper per stream, reused
    assert all("stream" not in desc for desc, _ in numba_cuda.wrapped)  # numba would sync on it at every launch


def test_numba_kernels_run_in_the_context_of_the_arrays_device(stubs):
    cupy, numba_cuda, launcher, kernel = stubs
    cupy.stream_ptr[1] = 0x3000
    x = FakeArray(cupy.cuda.Device(1))  # made under `with cupy.cuda.Device(1):`; device 0 is current again
    launcher(kernel, 1, 4, (x, np.float32(2.0)))
    stream, context, args = kernel.launches[0]
    assert context == [1] and stream == ("external", 1, 0x3000)  # device 1's context and its current stream
    assert numba_cuda.wrapped[0][1] == 1  # the array was imported in device 1's context
    assert args[1] == np.float32(2.0) and cupy.current_device == 0 and numba_cuda.context == []


def test_the_one_block_final_sum_launches_without_a_low_occupancy_warning(stubs, monkeypatch):
    """The real numba-cuda dispatcher warns when it first configures a 1-block grid (once per stream, each new
    CuPy stream again); sum_to_scalar's single block is deliberate."""
    from mark1.kernels.cuda import rows

    cupy, numba_cuda, _, _ = stubs
    real = rows.kernels("float32")["sum_to_scalar"]
    configured = []

    class ConfigureOnly:  # the real configuration step (where the warning is raised), no launch
        def __getitem__(self, config):
            configured.append(real[config[0], config[1], 0])
            return lambda *args: None

    with pytest.warns(Warning, match="Grid size 1 .* low occupancy"):  # the test can see the warning
        real[1, geometry.ROW_THREADS, 0]
    type(real).configure.cache_clear()  # configurations are cached: the warning comes at the first one only
    monkeypatch.setattr(cuda_launch.rows, "kernels", lambda name: {"sum_to_scalar": ConfigureOnly()})
    ops = CudaOps(cupy, raw_matmul=False, launcher=CupyLauncher(cupy, numba_cuda))
    loss = FakeArray(cupy.cuda.Device(0), np.zeros(1, np.float32))
    loss.dtype = loss.host.dtype
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops._sum_to_scalar(FakeArray(cupy.cuda.Device(0)), loss, 0.5)
    assert len(configured) == 1


def test_raw_sgemm_reads_the_bias_through_its_stride_on_its_device(monkeypatch):
    cupy = FakeCupy()
    launches = []
    monkeypatch.setattr(raw, "_sgemm_function", lambda device_id, *flags: lambda grid, block, args: launches.append(
        (device_id, cupy.current_device, grid, args)))
    device = cupy.cuda.Device(1)
    a, b = FakeArray(device, np.zeros((3, 4), np.float32)), FakeArray(device, np.zeros((4, 5), np.float32))
    out = FakeArray(device, np.zeros((3, 5), np.float32))
    column = FakeArray(device, np.zeros((5, 7), np.float32)[:, 2])  # a matrix column: stride 7 elements
    raw.sgemm(a, b, out, column, "relu")
    compiled_for, current_at_launch, grid, args = launches[0]
    assert compiled_for == 1 and current_at_launch == 1
    assert args[2] is column and args[3] == 7
    assert grid == (1, 1, 1)
