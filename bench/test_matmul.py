"""matmul: square n×n and the MLP's layer shapes, every contender."""

WORKLOADS = ("matmul",)


def test_matmul(measure, case, contender):
    measure(case, contender)
