"""A small shop table the label, tree and wide-model tests share: a number, a text column and labels of every kind."""

import os

import numpy as np
import pyarrow as pa

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from embedflow.sample_csv import write_csv
from features.spec import load_spec

PRICE_SPEC = """
source: {format: csv}
columns: {size: {type: float}, colour: {type: string}, price: {type: float}}
features:
  - {name: size, source: size, transform: z_score, piecewise_linear: 8}
  - {name: colour, source: colour, transform: vocabulary}
label: {column: price, transform: log}
model: MODEL
"""


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


def preprocessed_prices(root: str, rows: int, model: str) -> str:
    """The shop's prices (log label, size and colour) preprocessed under `root` with `model` as the spec's model
    section (flow YAML); returns the preprocess output folder."""
    write_csv(shop_table(rows), os.path.join(root, "shop.csv"))
    spec_path = os.path.join(root, "spec.yaml")
    with open(spec_path, "w", encoding="utf-8") as f:
        f.write(PRICE_SPEC.replace("MODEL", model))
    preprocess.run(PreprocessConfig(output=os.path.join(root, "prep"), input=os.path.join(root, "shop.csv"),
                                     spec=load_spec(spec_path)))
    return os.path.join(root, "prep")
