"""mark1.nn: layers, losses, optimizers and Sequential, running on the current backend's kernels.

    from mark1 import nn
    model = nn.Sequential(nn.Dense(2, 8), nn.Sigmoid(), nn.Dense(8, 1), nn.Sigmoid())
    history = model.fit(X, y, loss=nn.BCELoss(), optimizer=nn.SGD(model.parameters(), lr=1.0), epochs=500)
"""

from mark1.nn.activations import ReLU, Sigmoid, Softmax, Tanh
from mark1.nn.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from mark1.nn.dense import Dense
from mark1.nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from mark1.nn.module import Module
from mark1.nn.optim import SGD, Adam, Optimizer
from mark1.nn.parameter import Parameter
from mark1.nn.rbm import DBN, BernoulliRBM
from mark1.nn.sequential import Sequential

__all__ = [
    "SGD", "Adam", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dense", "Loss", "MSELoss", "Module",
    "Optimizer", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
    "BernoulliRBM", "DBN",  # energy-based models (issue 13)
    "AvgPool2d", "Conv2d", "Flatten", "MaxPool2d",
]
