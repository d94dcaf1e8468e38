"""Does the hashed latitude x longitude cross pay?  The same DNN with and without it.

Generates planted housing data (expensive neighbourhoods scattered over the
map), preprocesses it once with the built-in housing spec, then trains the
model twice on the same output: with every feature, and without the
`location` cross.  Prints eval RMSE of log(price) and in price units.

    python bench/housing_cross.py [--rows 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from beam_jobs import preprocess  # noqa: E402
from beam_jobs.config import PreprocessConfig  # noqa: E402
from embedflow.sample_tables import HousingSample, write_housing_sample  # noqa: E402
from features.spec import load_spec  # noqa: E402
from trainer import task  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=HousingSample.rows)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="housing_cross_")
    write_housing_sample(os.path.join(root, "data"), HousingSample(rows=args.rows, seed=args.seed))
    prep = os.path.join(root, "prep")
    preprocess.run(PreprocessConfig(output=prep, input=os.path.join(root, "data", "housing.csv"),
                                    spec=load_spec("housing")))
    results = {}
    for name, excluded in (("with lat x lon cross", None), ("without the cross", ["location"])):
        result = task.train(TrainConfig(input=prep, job_dir=os.path.join(root, name.replace(" ", "_")),
                                        seed=args.seed, exclude_features=excluded))
        results[name] = result.metrics
    print(f"\nEval on {args.rows} planted housing rows (20% held out):")
    print(f"  {'model':<22} {'RMSE log(price)':>16} {'RMSE price':>12} {'MAE price':>12}")
    for name, m in results.items():
        print(f"  {name:<22} {m['model']['rmse']:>16.4f} {m['model_label_units']['rmse']:>12,.0f} "
              f"{m['model_label_units']['mae']:>12,.0f}")
    m = next(iter(results.values()))
    print(f"  {'predict the mean':<22} {m['baseline_mean']['rmse']:>16.4f} "
          f"{m['baseline_mean_label_units']['rmse']:>12,.0f} {m['baseline_mean_label_units']['mae']:>12,.0f}")


if __name__ == "__main__":
    main()
