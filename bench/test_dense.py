"""The fused dense layer (784→128, sigmoid): forward and the three gradients."""

WORKLOADS = ("dense",)


def test_dense(measure, case, contender):
    measure(case, contender)
