"""A 1024-element sigmoid: one call is almost all dispatch overhead, compared in calls per second."""

WORKLOADS = ("launch",)


def test_launch(measure, case, contender):
    measure(case, contender)
