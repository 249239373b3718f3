"""One CD-1 update of a 784x500 Bernoulli RBM (mark1/bench/rbm_step.py), Philox sampling included."""

WORKLOADS = ("rbm_step",)


def test_rbm_step(measure, case, contender):
    measure(case, contender)
