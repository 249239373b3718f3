"""One SGD step of the 784-128-64-10 sigmoid MLP with softmax cross-entropy."""

WORKLOADS = ("train_step",)


def test_train_step(measure, case, contender):
    measure(case, contender)
