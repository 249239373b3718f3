"""sigmoid forward and backward over large arrays: memory-bound, compared in GB/s."""

WORKLOADS = ("sigmoid", "sigmoid_backward")


def test_elementwise(measure, case, contender):
    measure(case, contender)
