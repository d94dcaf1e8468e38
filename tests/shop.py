"""A small shop table the label and tree tests share: a number, a text column and labels of every kind."""

import numpy as np
import pyarrow as pa


def shop_table(n: int, seed: int = 0) -> pa.Table:
    """Big red things sell and are 'large'; the price grows with size."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0, 10, n)
    colour = rng.choice(["red", "blue", "green"], n)
    sold = np.where(rng.random(n) < 1 / (1 + np.exp(-(size - 5 + 2 * (colour == "red")))), "yes", "no")
    grade = np.where(size < 3, "small", np.where(size < 7, "medium", "large"))
    price = np.round(np.exp(9 + 0.2 * size + rng.normal(0, 0.1, n)))
    return pa.table({"size": size.round(3), "colour": colour.tolist(), "sold": sold.tolist(),
                     "grade": grade.tolist(), "price": price})
