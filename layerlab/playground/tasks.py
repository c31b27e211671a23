"""The ten TensorFlow Playground exercises of the course, as presets of the playground page.

Each task sets up the page as its exercise says (data set, features, network, activation) and shows its
questions beside the network. Four tasks name a target test loss; the page checks it live on
Playground's scale: half the squared error on labels -1/+1, averaged over the points, which for our
sigmoid output p on labels 0/1 is 1/2 (2p - 1 - (2t - 1))^2 = 2 (p - t)^2, i.e. twice our mean squared
error. The data sets follow the pictures of the exercises: the circle for tasks 1-4, XOR for 5-6, the two
Gaussians for 7 and the spiral for 8-10 (as the built-in experiment ``layerlab run playground``).
"""

from __future__ import annotations

from typing import Any

ALL = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
_BASE = {
    "problem": "classification",
    "points": 500,
    "ratio": 50,
    "noise": 0,
    "batch": 10,
    "seed": 0,
    "init": 0,
    "features": ["x1", "x2"],
    "regularization": "none",
    "rate": 0.0,
    "lr": 0.03,
    "speed": 1,
}

TASKS: dict[int, dict[str, Any]] = {
    1: {
        "title": "Task 1: one hidden layer of 2 ReLU units",
        "questions": ["Why can the network not separate the two classes?"],
        "settings": {"data": "circle", "hidden": [2], "activation": "relu"},
    },
    2: {
        "title": "Task 2: one hidden layer of 3 ReLU units",
        "questions": ["Can the network now separate the classes? Why?"],
        "settings": {"data": "circle", "hidden": [3], "activation": "relu"},
    },
    3: {
        "title": "Task 3: sigmoid and tanh, 3 units",
        "questions": [
            "Can you make the network separate the classes?",
            "Why does it take longer or shorter to converge?",
            "Do you notice a difference in the decision boundary?",
        ],
        "settings": {"data": "circle", "hidden": [3], "activation": "sigmoid"},
    },
    4: {
        "title": "Task 4: linear activation, 3 units",
        "questions": [
            "Can you make the network separate the classes?",
            "What happens if you add more hidden layers? Does it help? Why?",
        ],
        "settings": {"data": "circle", "hidden": [3], "activation": "linear"},
    },
    5: {
        "title": "Task 5: the smallest network for XOR from x1 and x2",
        "questions": [
            "What is the smallest architecture you can find with a test loss under 0.02?",
            "With the smallest architecture, restart (reset) a few times. Do you notice something?",
        ],
        "settings": {"data": "xor", "hidden": [4, 2], "activation": "tanh"},
        "target": 0.02,
    },
    6: {
        "title": "Task 6: XOR with other features",
        "questions": [
            "What is the smallest architecture you can find with a test loss under 0.02?",
            "Explain why a smaller architecture is possible.",
        ],
        "settings": {"data": "xor", "features": ["x1", "x2", "x1*x2"], "hidden": [1], "activation": "tanh"},
        "target": 0.02,
    },
    7: {
        "title": "Task 7: three ReLU layers (6, 6, 2) on two Gaussians",
        "questions": [
            "Look at the weights (the thickness of the lines). Do you notice anything?",
            "What does it tell you about the capacity of the model?",
        ],
        "settings": {"data": "gauss", "hidden": [6, 6, 2], "activation": "relu"},
    },
    8: {
        "title": "Task 8: the spiral from x1 and x2",
        "questions": [
            "Find the best architecture (aim for a test loss under 0.04): vary layers, widths, learning rate, "
            "activation and regularisation. What is the lowest loss you reach?",
            "Do you notice problems with the gradient? How stable is the training?",
        ],
        "settings": {"data": "spiral", "hidden": [8, 8, 8], "activation": "tanh"},
        "target": 0.04,
    },
    9: {
        "title": "Task 9: the spiral with more features",
        "questions": [
            "Can you reduce the network's size with the same quality?",
            "How does the loss behave?",
        ],
        "settings": {"data": "spiral", "features": ALL, "hidden": [6, 4], "activation": "tanh", "lr": 0.01},
    },
    10: {
        "title": "Task 10: six hidden layers of 8, all features",
        "questions": [
            "Can you train 6 hidden layers of width 8 to a test loss of 0.01 or better?",
            "What problems did you encounter? How did the gradient behave?",
        ],
        "settings": {"data": "spiral", "features": ALL, "hidden": [8] * 6, "activation": "tanh", "lr": 0.01},
        "target": 0.01,
    },
}


def preset(task: int) -> dict[str, Any]:
    """The full settings of a task's preset (every control of the page), as the page sends them."""
    return {**_BASE, **TASKS[task]["settings"], "task": task}


def target(task: int) -> float | None:
    """The task's target test loss on Playground's scale, if it has one."""
    return TASKS[task].get("target") if task in TASKS else None
